"""Training throughput (pairs/s) per preset, and a quality check against the SearchSage baseline.

Speed: trains each preset for a few steps on a synthetic world and reports global training pairs per
second (steady state: the first logged window, with its warm-up, is left out) and seconds per step.

Quality (`--compare`): enriches the world as of the end of the training window, trains the preset
(OmniSearchSage: learned pin/product encoder + compatibility + query→query) and the SearchSage baseline
(the same query encoder trained only against the legacy embeddings, `train.towers=legacy`), then ranks the
held-out pairs of the evaluation window with `omnisage.eval`: Recall@10 per task against a random corpus.

  nice -n 10 python benchmarks/bench_train.py --pins 3000 --presets tiny,default --steps 20
  nice -n 10 python benchmarks/bench_train.py --pins 3000 --compare --preset default --set train.steps=300
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from omnisage.config import Config, SynthConfig, load_config


def ensure_world(directory: Path, pins: int, seed: int) -> Path:
    from omnisage.synth.world import generate_world

    if not (directory / "engagements.parquet").exists():
        print(f"generating a synthetic world with {pins:,} pins in {directory}")
        generate_world(SynthConfig(pins=pins, seed=seed), directory)
    return directory


def steady_rate(metrics: Path) -> tuple[float, int]:
    """Median pairs/s over the logged windows after the first, and the number of windows used."""
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    rates = [r["pairs_per_s"] for r in records[1:]] or [r["pairs_per_s"] for r in records]
    return statistics.median(rates), len(rates)


def speed(world: Path, presets: list[str], steps: int, overrides: list[str], work: Path) -> None:
    from omnisage.train.run import train_model

    print(f"{'preset':<10} {'pairs/step':>10} {'steps':>6} {'pairs/s':>9} {'s/step':>7}  query encoder")
    for preset in presets:
        settings = [
            f"train.steps={steps}",
            "train.warmup_steps=2",
            "train.log_every=2",
            "train.checkpoint_every=100000",
        ]
        config = load_config(preset, settings + overrides)
        out = work / f"speed-{preset}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resume
        began = time.perf_counter()
        summary = train_model(world, out, config, progress=False, log=lambda *_: None)
        total = time.perf_counter() - began
        rate, _ = steady_rate(out / "metrics.jsonl")
        per_step = sum(summary["pairs_per_step"].values())
        encoder = config.model.query_encoder
        print(
            f"{preset:<10} {per_step:>10,} {steps:>6} {rate:>9,.0f} {per_step / rate:>7.2f}  {encoder}"
            f"   (whole run incl. setup: {total:.0f} s)"
        )


def _recalls(world: Path, enriched: Path, runs: dict[str, tuple[Path, str]], config: Config) -> list[dict]:
    from omnisage.eval.evaluate import evaluate_systems, rank_table, summarize
    from omnisage.eval.protocol import load_eval_sets
    from omnisage.eval.systems import compatibility_system, model_system
    from omnisage.model.bundle import load_model
    from omnisage.train.catalog import read_enriched

    entities = read_enriched(enriched)
    sets, windows = load_eval_sets(world, entities, config.eval)
    systems = []
    for name, (model_dir, kind) in runs.items():
        model = load_model(model_dir)
        if kind == "learned":
            systems.append(model_system(model, name))
        else:  # the baseline's query embedding against the legacy vectors; query→query on the prefix
            systems.append(compatibility_system(model, model.config.legacy_dim, name))
    ev = evaluate_systems(systems, sets, windows, config.eval)
    return [r for r in summarize(rank_table(ev), config.eval) if r["slice"] == "all"]


def compare(world: Path, preset: str, overrides: list[str], work: Path) -> None:
    from omnisage.config import EnrichConfig
    from omnisage.data.io import find_table, read_table
    from omnisage.features.enriched import run_enrich
    from omnisage.schema import ENGAGEMENTS
    from omnisage.train.pairs import training_window
    from omnisage.train.run import train_model

    config = load_config(preset, overrides)
    engagements = read_table(find_table(world, "engagements"), ENGAGEMENTS)
    _, end = training_window(engagements, config.train, config.eval)
    enriched_dir = work / "enriched"
    if not (enriched_dir / "enriched_entities.parquet").exists():
        print(f"enriching as of {end:%Y-%m-%d %H:%M} (the end of the training window)")
        run_enrich(world, end, enriched_dir, EnrichConfig())
    enriched = enriched_dir / "enriched_entities.parquet"
    runs = {
        "omnisearchsage": (config, "learned"),
        "searchsage": (load_config(preset, [*overrides, "train.towers=legacy"]), "legacy"),
    }
    trained: dict[str, tuple[Path, str]] = {}
    for name, (cfg, kind) in runs.items():
        out = work / f"compare-{name}"
        began = time.perf_counter()
        summary = train_model(world, out, cfg, enriched=enriched, progress=True)
        print(f"{name}: {summary['steps']} steps, {summary['pairs_per_second']:,.0f} pairs/s, "
              f"{time.perf_counter() - began:.0f} s, {summary['epochs']:.1f} epochs")  # fmt: skip
        trained[name] = (out / "model", kind)
    rows = _recalls(world, enriched, trained, config)
    by = {(r["system"], r["task"]): r for r in rows}
    print(f"\nRecall@{config.eval.k} (random corpus, evaluation window; 95% bootstrap CI)")
    print(f"{'task':<8} {'pairs':>6} {'SearchSage':>20} {'OmniSearchSage':>20} {'gain':>8}")
    for task in dict.fromkeys(r["task"] for r in rows):
        base, ours = by.get(("searchsage", task)), by.get(("omnisearchsage", task))
        if base is None or ours is None:
            continue
        gain = ours["recall"] / base["recall"] - 1 if base["recall"] > 0 else float("inf")

        def cell(r: dict) -> str:
            return f"{r['recall']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"

        print(f"{task:<8} {ours['pairs']:>6} {cell(base):>20} {cell(ours):>20} {gain:>+8.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="a data directory (default: generate a synthetic world)")
    parser.add_argument("--pins", type=int, default=3000, help="size of the generated world")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, help="where worlds and runs go (default: a temp dir)")
    parser.add_argument("--presets", default="tiny,default", help="speed: presets to time")
    parser.add_argument("--steps", type=int, default=20, help="speed: steps per preset")
    parser.add_argument("--compare", action="store_true", help="quality: preset vs SearchSage, Recall@10")
    parser.add_argument("--preset", default="default", help="quality: the preset to compare")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override (repeatable)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_train_"))
    work.mkdir(parents=True, exist_ok=True)
    world = args.data or ensure_world(work / f"world-{args.pins}", args.pins, args.seed)
    if args.compare:
        compare(world, args.preset, args.overrides, work)
    else:
        speed(world, args.presets.split(","), args.steps, args.overrides, work)


if __name__ == "__main__":
    main()
