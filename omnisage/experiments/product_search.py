"""`omnisage bench`: the real-data product-search benchmark, relevance judgments in, Recall@10 out.

adapter (Home Depot CSV, ESCI) → query-level split → training world in the data contracts, with legacy vectors
from a frozen sentence encoder → `enrich` (engaged queries from training logs only) → `train`, once per variant
→ every system ranked on the same held-out pairs against the same random corpus → report.
Each stage reuses what an earlier run of the same settings left in OUT (training resumes from checkpoints).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import Config, config_to_dict, load_config
from omnisage.data.io import write_table
from omnisage.data.judgments import RelevanceSet, write_world
from omnisage.eval.evaluate import Evaluation, evaluate_systems
from omnisage.eval.run import load_bundle
from omnisage.eval.systems import System
from omnisage.experiments import harness
from omnisage.experiments.bench_report import bench_report, write_report
from omnisage.experiments.harness import Log, Trained, fingerprint, pin_settings
from omnisage.experiments.legacy import legacy_embeddings
from omnisage.experiments.split import BenchSplit, eval_sets, split_by_file, split_by_query
from omnisage.experiments.variants import (
    BENCH_BASELINES,
    BENCH_VARIANTS,
    HYBRID,
    PEER,
    Variant,
    by_name,
    pick,
    require_known,
)


def _split_key(split: BenchSplit) -> str:
    heldout = split.heldout.column("query_text").to_pylist()
    products = split.training.products.column("product_id").to_pylist()
    return fingerprint([sorted(set(heldout)), split.about, len(products), products[:100]])


def prepare_world(
    split: BenchSplit, out: Path, config: Config, cache_dir: Path, *, progress: bool, log: Log
) -> tuple[Path, Path, int, dict[str, float]]:
    """Write the training world and its enriched entity table; returns (world, enriched table, L, seconds)."""
    from omnisage.features.enriched import OUTPUT, run_enrich

    seconds: dict[str, float] = {}
    bench = config.bench
    world, enriched = out / "world", out / "enriched"
    start = time.perf_counter()
    legacy = legacy_embeddings(
        split.training.products,
        cache_dir,
        fields=bench.legacy_fields,
        encoder=bench.legacy_encoder,
        max_tokens=bench.legacy_max_tokens,
        progress=progress,
    )
    seconds["legacy_vectors"] = time.perf_counter() - start
    dim = legacy.schema.field("vector").type.list_size
    settings = {"split": _split_key(split), "legacy": dim, "enrich": config_to_dict(config.enrich)}
    pin_settings(out / "world.settings.json", settings)
    start = time.perf_counter()
    if not (enriched / OUTPUT).is_file():
        log("== training world: the training split in the data contracts")
        write_world(split.training, world)
        write_table(legacy, world / "legacy_embeddings.parquet")
        manifest = world / "world.json"
        declared = json.loads(manifest.read_text(encoding="utf-8"))  # the relevance scale, from write_world
        manifest.write_text(json.dumps({**declared, "legacy_dim": dim}) + "\n", encoding="utf-8")
        log("== enrich: engaged queries from the training logs only")
        run_enrich(world, _as_of(split), enriched, _enrich_config(split, config))
    seconds["world_and_enrich"] = time.perf_counter() - start
    return world, enriched / OUTPUT, dim, seconds


def _as_of(split: BenchSplit) -> Any:
    """Just after the last training log: every training engagement counts, nothing after it exists."""
    return pc.max(split.training.judgments.column("ts")).as_py() + timedelta(minutes=1)


def _enrich_config(split: BenchSplit, config: Config) -> Any:
    """The engaged-query window must cover every synthetic timestamp of the training logs."""
    ts = split.training.judgments.column("ts")
    span = (pc.max(ts).as_py() - pc.min(ts).as_py()).days + 2
    return dataclasses.replace(config.enrich, window_days=max(config.enrich.window_days, span))


def variant_config(
    preset: str | Path, overrides: list[str], variant: Variant, split: BenchSplit, dim: int
) -> Config:
    """The preset, the derived settings (legacy width, a training window over every log, the entity text tower
    reading the legacy vectors' text), the user's overrides, then the variant's own."""
    bench = load_config(preset, overrides).bench
    end = (_as_of(split) + timedelta(days=1)).date().isoformat()
    derived = [
        f"model.legacy_dim={dim}",
        f"train.window_end={end}",
        "train.window_days=none",
        f"model.entity_text_fields={','.join(bench.legacy_fields)}",
        f"model.entity_text_max_tokens={bench.legacy_max_tokens}",
    ]
    return load_config(preset, [*derived, *overrides, *variant.overrides])


def _train(
    variants: list[Variant], world: Path, enriched: Path, out: Path, preset: str | Path, overrides: list[str],
    split: BenchSplit, dim: int, *, progress: bool, log: Log,
) -> dict[str, Trained]:  # fmt: skip
    """Train (or resume, or reuse) each variant into OUT/variants/<name> through the harness; the settings pin
    holds the split too, so another split of the same data never reuses a variant."""

    def plan(variant: Variant) -> tuple[Config, dict[str, Any]]:
        config = variant_config(preset, overrides, variant, split, dim)
        full = config_to_dict(config)
        # What the trained weights depend on; ranking, serving and relevance settings may change freely.
        trains_on = {key: full[key] for key in ("model", "train", "enrich")}
        trains_on["legacy"] = {k: v for k, v in full["bench"].items() if k.startswith("legacy_")}
        return config, {"variant": variant.name, "split": _split_key(split), "config": trains_on}

    def train(variant: Variant, folder: Path, config: Config) -> Any:
        from omnisage.train.run import train_model

        return train_model(world, folder, config, enriched=enriched, progress=progress, log=log)

    return harness.train_variants(variants, out, plan, train, log=log)


def _train_peers(
    world: Path, enriched: Path, out: Path, preset: str | Path, overrides: list[str], split: BenchSplit,
    dim: int, *, progress: bool, log: Log,
) -> dict[str, Trained]:  # fmt: skip
    """The baselines that train (the sentence-transformers peer) into OUT/baselines/<name>, on the pairs of the
    variants' training window."""
    config = variant_config(preset, overrides, Variant(PEER, (), (), BENCH_BASELINES[PEER]), split, dim)
    if PEER not in config.bench.baselines:
        return {}
    from omnisage.experiments.peer import train_peer

    folder = out / "baselines" / PEER
    return {PEER: train_peer(world, enriched, folder, config, progress=progress, log=log)}


def baseline_systems(
    names: tuple[str, ...], config: Config, dim: int, peers: dict[str, Trained] | None = None
) -> list[System]:
    from omnisage.eval.baselines import BM25System, MeanPoolEncoder
    from omnisage.eval.systems import EmbeddingSystem, legacy_vectors

    require_known(names, BENCH_BASELINES, "config bench.baselines: unknown")
    own = config.bench.legacy_fields
    out: list[System] = []
    for name in names:
        if name == "bm25":
            out.append(BM25System(own, name="bm25"))
        elif name == "bm25_enriched":
            out.append(BM25System((*own, "engaged_queries"), name="bm25_enriched"))
        elif name == PEER:
            from omnisage.experiments.peer import peer_system

            out.append(peer_system((peers or {})[PEER].bundle, own))
        else:
            # The legacy vectors are exactly this encoder over the product text, so they are reused as is.
            encoder = MeanPoolEncoder(config.bench.legacy_encoder, config.bench.legacy_max_tokens)
            out.append(EmbeddingSystem("zero_shot", encoder, lambda rows: legacy_vectors(rows, dim)))
    return out


def hybrid_system(model: Any, config: Config) -> System:
    from omnisage.eval.baselines import BM25System
    from omnisage.eval.systems import HybridSystem, model_system

    lexical = BM25System(config.bench.legacy_fields)
    return HybridSystem(HYBRID, model_system(model), lexical, config.bench.hybrid_weight)


def _check(config: Config) -> list[Variant]:
    """The variants to train, once the baselines are known too (the other bench settings are checked where the
    config is built)."""
    require_known(config.bench.baselines, BENCH_BASELINES, "config bench.baselines: unknown")
    return pick(BENCH_VARIANTS, config.bench.variants, "config bench.variants: unknown")


def run_benchmark(
    data: RelevanceSet,
    out: str | Path,
    preset: str | Path = "bench",
    overrides: list[str] | None = None,
    *,
    test: RelevanceSet | None = None,
    save_model: str | Path | None = None,
    cache_dir: str | Path = ".omnisage-cache",
    command: str = "omnisage bench",
    progress: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Split, build the training world, train the variants, rank everything, write OUT/report.{md,json}."""
    overrides = list(overrides or [])
    config = load_config(preset, overrides)
    variants = _check(config)
    out = Path(out)
    started = time.perf_counter()
    bench = config.bench
    split = (
        split_by_file(data, test) if test is not None else split_by_query(data, bench.eval_share, bench.seed)
    )
    world, enriched, dim, seconds = prepare_world(
        split, out, config, Path(cache_dir), progress=progress, log=log
    )
    peers = _train_peers(world, enriched, out, preset, overrides, split, dim, progress=progress, log=log)
    trained = _train(
        variants, world, enriched, out, preset, overrides, split, dim, progress=progress, log=log
    )
    seconds.update({f"train:{name}": t.seconds for name, t in {**peers, **trained}.items()})
    sets, windows = eval_sets(split, pq.read_table(enriched), config.eval)
    ev = _rank_all(Evaluation(windows, sets), trained, config, dim, log, peers)
    seconds["evaluation"] = sum(ev.seconds.values())
    relevance = None
    if "omnisage" in trained and config.bench.relevance:
        from omnisage.experiments.relevance_bench import relevance_stage

        start = time.perf_counter()
        relevance = relevance_stage(split, pq.read_table(enriched), trained["omnisage"].bundle,
                                    ev.sets.get("product"), out, config, progress=progress, log=log)  # fmt: skip
        seconds["relevance"] = time.perf_counter() - start
    if save_model is not None and "omnisage" in trained:
        from omnisage.model.bundle import save_model as save_bundle

        save_bundle(save_model, load_bundle(trained["omnisage"].bundle))
    seconds["total"] = time.perf_counter() - started
    report, table = bench_report(ev, config, data, split, {**peers, **trained}, seconds, command=command)
    if relevance is not None:
        report.update(relevance)
    write_report(out, report, table)
    return report


def _rank_all(
    ev: Evaluation, trained: dict[str, Trained], config: Config, dim: int, log: Log, peers: dict[str, Trained]
) -> Evaluation:
    """Rank the baselines, then each trained variant's towers (and the hybrid), one model in memory at a time."""
    log(f"== ranking: {', '.join(f'{t} {s.pairs.num_rows:,} pairs' for t, s in ev.sets.items())}")
    _rank(ev, baseline_systems(config.bench.baselines, config, dim, peers), config)
    variants = by_name(BENCH_VARIANTS)
    for name, t in trained.items():
        model = load_bundle(t.bundle)
        systems = harness.variant_systems(variants[name], model, t.config.model.legacy_dim)
        if name == "omnisage" and config.bench.hybrid_weight is not None:
            systems.append(hybrid_system(model, config))
        _rank(ev, systems, config)
        del model
        gc.collect()
    return ev


def _rank(ev: Evaluation, systems: list[System], config: Config) -> None:
    part = evaluate_systems(systems, ev.sets, ev.windows, config.eval)
    ev.ranks.update(part.ranks)
    ev.seconds.update(part.seconds)


def read_sources(
    source: str,
    *,
    data: str | Path | None = None,
    test: str | Path | None = None,
    examples: str | Path | None = None,
    products: str | Path | None = None,
    locales: tuple[str, ...] | None = None,
    small_version: bool = False,
    published_split: bool = False,
    lenient: bool = True,
) -> tuple[RelevanceSet, RelevanceSet | None]:
    """(training data, optional test data) through the adapter of `source` ('homedepot' or 'esci').

    ESCI with `published_split`: its own split column, 'train' to train and 'test' to evaluate.
    """
    if source == "homedepot":
        from omnisage.data.homedepot import read_homedepot

        return read_homedepot(data, lenient=lenient), (
            read_homedepot(test, lenient=lenient) if test is not None else None
        )
    from omnisage.data.esci import read_esci

    def read(split: str | None) -> RelevanceSet:
        return read_esci(examples, products, locales=locales, small_version=small_version, split=split,
                         lenient=lenient)  # fmt: skip

    return (read("train"), read("test")) if published_split else (read(None), None)
