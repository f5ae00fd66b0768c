"""`omnisage ablate`: train the paper's model variants and rank them on the same held-out pairs (§4.3).

Each variant (`variants.ABLATION_VARIANTS`) is trained into `OUT/variants/<name>/` by the shared harness (the
training loop resumes from its checkpoints), then its per-pair ranks are stored beside it, so a rerun only does
what is missing. `tables.py` turns the ranks into the paper's Tables 2–6.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnisage.atomic import write_text
from omnisage.config import Config, EvalConfig, config_to_dict, load_config
from omnisage.data.io import write_table
from omnisage.errors import OmniSageError
from omnisage.eval.evaluate import evaluate_systems
from omnisage.eval.protocol import PAIR_COLUMNS, EvalSet, Windows, load_eval_sets
from omnisage.eval.run import baseline_systems, load_bundle, load_entities, model_legacy_dim
from omnisage.experiments import harness
from omnisage.experiments.harness import Log, Trained, bundle_mtime, cached_ranks, fingerprint, join_ranks
from omnisage.experiments.tables import ablation_report
from omnisage.experiments.variants import ABLATION_VARIANTS, TABLE_VARIANTS, Variant, pick, require_known

Trainer = Callable[[Path, Path, Config, Path | None], Any]  # (data, out, config, entities) -> anything
Loader = Callable[[Path], Any]  # bundle folder -> model with encode_queries / encode_entities


def default_trainer(data: Path, out: Path, config: Config, entities: Path | None) -> Any:
    from omnisage.train.run import train_model

    return train_model(data, out, config, enriched=entities)


def _with_task_batch(config: Config, full: Config) -> Config:
    """`config` with the batch its tasks get in `full`'s batch (the same pairs per step of each task)."""
    from omnisage.train.batches import allocate

    shares = allocate(full.train.batch_size, full.train.mix)
    batch = sum(shares.get(name, 0) for name, weight in config.train.mix.items() if weight > 0)
    return dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=batch))


def _train(
    data: Path, out: Path, preset: str | Path, overrides: Sequence[str], names: Sequence[str],
    entities: str | Path | None, trainer: Trainer, log: Log, skip_locked: bool = False,
) -> dict[str, Trained]:  # fmt: skip
    """Train (or resume, or reuse) the named variants through the harness; each variant's config is the preset,
    the user's overrides, then its own (and, for a `task_batch` variant, its tasks' share of the batch)."""
    variants = pick(ABLATION_VARIANTS, names, "unknown variant")
    data_entities = Path(entities) if entities else None

    def plan(variant: Variant) -> tuple[Config, dict[str, Any]]:
        config = load_config(preset, [*overrides, *variant.overrides])
        if variant.task_batch:
            config = _with_task_batch(config, load_config(preset, list(overrides)))
        return config, {"variant": variant.name, "config": config_to_dict(config)}

    def train(variant: Variant, folder: Path, config: Config) -> Any:
        return trainer(data, folder, config, data_entities)

    return harness.train_variants(variants, out, plan, train, log=log, skip_locked=skip_locked)


def train_only(
    data: str | Path,
    out: str | Path,
    preset: str | Path,
    overrides: Sequence[str] = (),
    *,
    names: Sequence[str],
    entities: str | Path | None = None,
    trainer: Trainer = default_trainer,
    log: Log = print,
) -> list[Path]:
    """`ablate --train-only`: train (or resume) just the named variants into OUT/variants/<name>, without
    ranking: run several of these side by side, then one `ablate` over the same --out ranks everything and
    writes the report. A variant another process is training is skipped. Returns the bundles trained or found."""
    done = _train(Path(data), Path(out), preset, overrides, names, entities, trainer, log, skip_locked=True)
    return [t.bundle for t in done.values()]


def _eval_key(cfg: EvalConfig, windows: Windows) -> str:
    """What the held-out pairs depend on: the protocol's columns and settings and the evaluation window."""
    return fingerprint(
        [PAIR_COLUMNS, config_to_dict(cfg), windows.eval_start.isoformat(), windows.eval_end.isoformat()]
    )


def _variant_ranks(
    variant: Variant, trained: Trained, path: Path, eval_key: str, sets: dict[str, EvalSet], windows: Windows,
    cfg: EvalConfig, loader: Loader, log: Log,
) -> pa.Table:  # fmt: skip
    """One variant's per-pair ranks: stored ones if the same model ranked them on the same pairs, else fresh."""
    bundle = trained.bundle
    # The path inside `model/` is odd but kept as it was: ranks cached by earlier runs keep their keys.
    key = fingerprint(
        [eval_key, variant.towers, (bundle / "train_summary.json").as_posix(), bundle_mtime(bundle)]
    )
    ranks = cached_ranks(path, key)
    if ranks is None:
        log(f"== ranking variant '{variant.name}'")
        model = loader(bundle)
        systems = harness.variant_systems(
            variant, model, model_legacy_dim(model, trained.config.model.legacy_dim)
        )
        ranks = harness.store_ranks(evaluate_systems(systems, sets, windows, cfg), path, key)
    return ranks


def _baseline_ranks(
    path: Path, eval_key: str, sets: dict[str, EvalSet], windows: Windows, config: Config, log: Log
) -> pa.Table:
    cfg = config.eval
    key = fingerprint([eval_key, list(cfg.baselines)])
    ranks = cached_ranks(path, key)
    if ranks is None:
        log(f"== ranking baselines: {', '.join(cfg.baselines)}")
        systems = baseline_systems(cfg.baselines, config)
        ranks = harness.store_ranks(evaluate_systems(systems, sets, windows, cfg), path, key)
    return ranks


def rank_variants(
    data: str | Path,
    out: str | Path,
    preset: str | Path,
    overrides: Sequence[str] = (),
    *,
    names: Sequence[str],
    baselines: bool = False,
    entities: str | Path | None = None,
    trainer: Trainer = default_trainer,
    loader: Loader = load_bundle,
    log: Log = print,
) -> tuple[pa.Table, Windows, dict[str, EvalSet], Config]:
    """Train (or reuse) the named variants, rank them (and the baselines, with `baselines`) on the same
    held-out pairs, and return the combined per-pair rank table. Each variant's ranks are stored beside it
    (OUT/variants/NAME/ranks.parquet), so a rerun ranks only what is new."""
    variants = pick(ABLATION_VARIANTS, names, "unknown variant")
    data, out = Path(data), Path(out)
    config = load_config(preset, list(overrides))
    sets, windows = load_eval_sets(data, load_entities(data, entities), config.eval)
    if not sets:
        raise OmniSageError(f"no engagement pairs in the evaluation window of {data}")
    eval_key = _eval_key(config.eval, windows)
    trained = _train(data, out, preset, overrides, names, entities, trainer, log)
    combined: pa.Table | None = None
    for v in variants:
        path = out / "variants" / v.name / "ranks.parquet"
        ranks = _variant_ranks(v, trained[v.name], path, eval_key, sets, windows, config.eval, loader, log)
        combined = join_ranks(combined, ranks)
    if baselines and config.eval.baselines:
        ranks = _baseline_ranks(out / "baselines" / "ranks.parquet", eval_key, sets, windows, config, log)
        combined = join_ranks(combined, ranks)
    if combined is None:
        raise OmniSageError("no variants to rank")
    return combined, windows, sets, config


def training_logs(out: Path, names: Sequence[str]) -> dict[str, Path]:
    from omnisage.train.loop import METRICS

    return {n: out / "variants" / n / METRICS for n in names if (out / "variants" / n / METRICS).is_file()}


def run_ablate(
    data: str | Path,
    out: str | Path,
    preset: str | Path,
    overrides: Sequence[str] = (),
    *,
    tables: Sequence[str] = tuple(TABLE_VARIANTS),
    entities: str | Path | None = None,
    command: str = "omnisage ablate",
    trainer: Trainer = default_trainer,
    loader: Loader = load_bundle,
    plots: bool = True,
    readme: str | Path | None = None,
    log: Log = print,
) -> dict:
    """`omnisage ablate`: train and rank the variants the tables need (and the baselines with Table 2) on the same
    pairs, then write OUT/ranks.parquet, OUT/ablations.md and OUT/ablations.json."""
    out = Path(out)
    require_known(tables, TABLE_VARIANTS, "unknown table")
    names = list(dict.fromkeys(v for t in tables for v in TABLE_VARIANTS[t]))
    table, _, sets, config = rank_variants(
        data, out, preset, overrides, names=names, baselines="2" in tables, entities=entities,
        trainer=trainer, loader=loader, log=log,
    )  # fmt: skip
    write_table(table, out / "ranks.parquet")
    report, markdown = ablation_report(table, config.eval, tables, command, sets)
    write_text(out / "ablations.json", json.dumps(report, indent=1, default=str) + "\n")
    write_text(out / "ablations.md", markdown)
    logs = training_logs(out, [v.name for v in ABLATION_VARIANTS])
    if plots and logs:
        from omnisage.eval.plots import plot_training

        plot_training(logs, out / "training_curves.png")
    if readme is not None:
        from omnisage.eval.report import update_readme

        update_readme(readme, "ablate", _readme_body(markdown), command)
    return report


def _readme_body(markdown: str) -> str:
    """The report's tables and checks as README subsections; the variants' overrides stay in OUT/ablations.md."""
    sections = markdown.split("\n## ")[1:]
    return "\n".join("### " + s for s in sections if not s.startswith("Variants\n"))
