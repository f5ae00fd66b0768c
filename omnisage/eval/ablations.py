"""`omnisage ablate`: train the paper's model variants and rank them on the same held-out pairs (§4.3).

A variant is the chosen config plus a few dotted overrides: feature switches are the model's text fields
(`model.text_fields`), tasks are the training mix and towers (`train.mix`, `train.towers`). Each variant is
trained into `OUT/variants/<name>/` (the training loop resumes from its checkpoints), then its per-pair ranks
are stored beside it, so a rerun only does what is missing. `ablation_tables.py` turns the ranks into the
paper's Tables 2–6.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import Config, config_to_dict, load_config
from omnisage.data.io import write_table
from omnisage.errors import OmniSageError
from omnisage.eval.evaluate import Evaluation, evaluate_systems, rank_table
from omnisage.eval.protocol import PAIR_COLUMNS, EvalSet, Windows, load_eval_sets
from omnisage.eval.report import write_text
from omnisage.eval.systems import System
from omnisage.train.pairs import DATASETS

_NATIVE = "title,description,brand,color"  # an item's own text (products also carry brand and colour)
PAIR_KEY = ("task", "query_text", "entity_id", "action")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]  # dotted `section.field=value` on top of the chosen config
    towers: tuple[str, ...]  # which of its towers to rank: "learned" (name) and/or "compat" (name-compat)
    about: str
    # Train with only its tasks' share of the full model's batch (`train.mix` of the chosen config), so a
    # single-task variant sees the same pairs of its task per step as the multi-task model.
    task_batch: bool = False


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("full", (), ("learned", "compat"), "every feature, every task and tower (OmniSearchSage)"),
        Variant(
            "searchsage",
            ("train.towers=legacy", "train.mix.query=0"),
            ("compat",),
            "query encoder trained only against the fixed legacy embeddings, no query→query pairs",
        ),
        Variant("no_compat", ("train.towers=entity,query",), ("learned",), "learned towers only"),
        Variant("continuous", ("model.text_fields=",), ("learned",), "continuous features only"),
        Variant("no_captions", (f"model.text_fields={_NATIVE}",), ("learned",), "native text, no captions"),
        Variant(
            "text", (f"model.text_fields={_NATIVE},caption",), ("learned",), "+ title, description, captions"
        ),
        Variant(
            "boards", (f"model.text_fields={_NATIVE},caption,board_titles",), ("learned",), "+ board titles"
        ),
    )
}
# Single-task variants (Table 5): each trains one task's datasets, as the paper does with the full model's
# batch size ("same batch": the same compute, so a task sees its pairs 2-8x as often), and again with only its
# share of that batch ("share": the same pairs of the task per step, so only sharing the model differs).
SINGLE_TASKS = {
    "pin": ("query→pin", ("pin",)),
    "product": ("query→product (onsite and offsite)", ("product_onsite", "product_offsite")),
    "query": ("query→query", ("query",)),
}


def _single_task_variants() -> dict[str, Variant]:
    out = {}
    for task, (what, datasets) in SINGLE_TASKS.items():
        off = tuple(f"train.mix.{d}=0" for d in DATASETS if d not in datasets)
        for suffix, about, share in (("", "same batch", False), ("_share", "its share of the batch", True)):
            name = f"{task}_only{suffix}"
            out[name] = Variant(name, off, ("learned",), f"single task: {what}, {about}", task_batch=share)
    return out


SINGLE_TASK_VARIANTS = _single_task_variants()
VARIANTS |= SINGLE_TASK_VARIANTS

# Paper table -> the variants it compares (baselines join Table 2).
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "2": ("searchsage", "full"),
    "3": ("no_captions", "text"),
    "4": ("continuous", "text", "boards", "full"),
    "5": (*SINGLE_TASK_VARIANTS, "full"),
    "6": ("searchsage", "no_compat", "full"),
}

Trainer = Callable[[Path, Path, Config, Path | None], Any]  # (data, out, config, entities) -> anything
Loader = Callable[[Path], Any]  # bundle folder -> model with encode_queries / encode_entities


def default_trainer(data: Path, out: Path, config: Config, entities: Path | None) -> Any:
    from omnisage.train.run import train_model

    return train_model(data, out, config, enriched=entities)


def default_loader(path: Path) -> Any:
    from omnisage.eval.run import load_bundle

    return load_bundle(path)


def variant_systems(variant: Variant, model: Any, legacy_dim: int) -> list[System]:
    from omnisage.eval.systems import compatibility_system, model_system

    out: list[System] = []
    if "learned" in variant.towers:
        out.append(model_system(model, variant.name))
    if "compat" in variant.towers:
        out.append(
            compatibility_system(
                model, legacy_dim, variant.name + ("-compat" if "learned" in variant.towers else "")
            )
        )
    return out


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached_ranks(path: Path, key: str) -> pa.Table | None:
    """Stored ranks, if they were computed for the same evaluation settings and model."""
    if not path.is_file():
        return None
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    return table if meta.get(b"omnisage_eval_key", b"").decode() == key else None


def _store_ranks(ev: Evaluation, path: Path, key: str) -> pa.Table:
    table = rank_table(ev)
    table = table.replace_schema_metadata({"omnisage_eval_key": key})
    write_table(table, path)
    return table


def _join(base: pa.Table | None, extra: pa.Table) -> pa.Table:
    """Add `extra`'s rank columns to `base`; both must list the same pairs in the same order."""
    if base is None:
        return extra
    for column in PAIR_KEY:
        if not base.column(column).equals(extra.column(column)):
            raise OmniSageError(
                "stored ranks were computed on other pairs: delete OUT/variants/*/ranks.parquet"
            )
    for name in extra.column_names:
        if name.startswith("rank:") and name not in base.column_names:
            base = base.append_column(name, extra.column(name))
    return base


def _with_task_batch(config: Config, full: Config) -> Config:
    """`config` with the batch its tasks get in `full`'s batch (the same pairs per step of each task)."""
    from omnisage.train.batches import allocate

    shares = allocate(full.train.batch_size, full.train.mix)
    batch = sum(shares.get(name, 0) for name, weight in config.train.mix.items() if weight > 0)
    return dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=batch))


def _train_variant(
    variant: Variant, data: Path, out: Path, preset: str | Path, overrides: Sequence[str],
    entities: Path | None, trainer: Trainer, log: Callable[[str], None],
) -> tuple[Config, Path]:  # fmt: skip
    """Train (or resume, or reuse) one variant; its config is pinned in `variant.json`."""
    config = load_config(preset, [*overrides, *variant.overrides])
    if variant.task_batch:
        config = _with_task_batch(config, load_config(preset, overrides))
    folder = out / "variants" / variant.name
    pinned = folder / "variant.json"
    settings = {"variant": variant.name, "config": config_to_dict(config)}
    if pinned.is_file() and json.loads(pinned.read_text(encoding="utf-8")) != settings:
        raise OmniSageError(
            f"{folder} was trained with other settings; use a new --out or delete that folder"
        )
    write_text(pinned, json.dumps(settings, indent=1) + "\n")
    bundle = folder / "model"
    if not (folder / "train_summary.json").is_file():
        with _training_lock(folder):
            log(f"== training variant '{variant.name}': {variant.about}")
            trainer(data, folder, config, entities)
    return config, bundle


class VariantLocked(OmniSageError):
    """Another process is training this variant right now."""


@contextmanager
def _training_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on FOLDER/train.lock while a variant trains, so two `ablate` processes sharing
    an --out (`--train-only` runs in parallel) never train the same variant at once. The operating system
    drops the lock when its process dies, so a killed run leaves nothing to clean up."""
    with open(folder / "train.lock", "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VariantLocked(
                f"{folder} is being trained by another process; wait for it or train other variants"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def train_variants(
    data: str | Path,
    out: str | Path,
    preset: str | Path,
    overrides: Sequence[str] = (),
    *,
    names: Sequence[str],
    entities: str | Path | None = None,
    trainer: Trainer = default_trainer,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Train (or resume) just the named variants into OUT/variants/<name>, without ranking: run several of
    these side by side, then one `ablate` over the same --out ranks everything and writes the report. A
    variant another process is training is skipped. Returns the bundles trained or found."""
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise OmniSageError(f"unknown variant {unknown} (known: {', '.join(VARIANTS)})")
    bundles = []
    for name in dict.fromkeys(names):
        try:
            _, bundle = _train_variant(
                VARIANTS[name], Path(data), Path(out), preset, overrides,
                Path(entities) if entities else None, trainer, log,
            )  # fmt: skip
        except VariantLocked as exc:
            log(f"== skipping variant '{name}': {exc}")
            continue
        bundles.append(bundle)
    return bundles


def run_ablations(
    data: str | Path,
    out: str | Path,
    preset: str | Path,
    overrides: Sequence[str] = (),
    *,
    tables: Sequence[str] = tuple(TABLE_VARIANTS),
    entities: str | Path | None = None,
    trainer: Trainer = default_trainer,
    loader: Loader = default_loader,
    log: Callable[[str], None] = print,
) -> tuple[pa.Table, Windows, dict[str, EvalSet], Config]:
    """Train every variant the tables need, rank all of them (and the baselines) on the same pairs, and
    return the combined per-pair rank table."""
    unknown = sorted(set(tables) - set(TABLE_VARIANTS))
    if unknown:
        raise OmniSageError(f"unknown table {unknown} (known: {', '.join(TABLE_VARIANTS)})")
    names = list(dict.fromkeys(v for t in tables for v in TABLE_VARIANTS[t]))
    combined, windows, sets, config = rank_variants(
        data, out, preset, overrides, names=names, baselines="2" in tables, entities=entities,
        trainer=trainer, loader=loader, log=log,
    )  # fmt: skip
    write_table(combined, Path(out) / "ranks.parquet")
    return combined, windows, sets, config


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
    loader: Loader = default_loader,
    log: Callable[[str], None] = print,
) -> tuple[pa.Table, Windows, dict[str, EvalSet], Config]:
    """Train (or reuse) the named variants, rank them (and the baselines, with `baselines`) on the same
    held-out pairs, and return the combined per-pair rank table. Each variant's ranks are stored beside it
    (OUT/variants/NAME/ranks.parquet), so a rerun ranks only what is new."""
    from omnisage.eval.run import baseline_systems, load_entities, model_legacy_dim

    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise OmniSageError(f"unknown variant {unknown} (known: {', '.join(VARIANTS)})")
    data, out = Path(data), Path(out)
    config = load_config(preset, list(overrides))
    cfg = config.eval
    entity_table = load_entities(data, entities)
    sets, windows = load_eval_sets(data, entity_table, cfg)
    if not sets:
        raise OmniSageError(f"no engagement pairs in the evaluation window of {data}")
    eval_key = _fingerprint(
        [PAIR_COLUMNS, config_to_dict(cfg), windows.eval_start.isoformat(), windows.eval_end.isoformat()]
    )
    combined: pa.Table | None = None
    for name in dict.fromkeys(names):
        variant = VARIANTS[name]
        variant_config, bundle = _train_variant(
            variant, data, out, preset, overrides, Path(entities) if entities else None, trainer, log
        )
        key = _fingerprint(
            [eval_key, variant.towers, (bundle / "train_summary.json").as_posix(), _mtime(bundle)]
        )
        path = out / "variants" / name / "ranks.parquet"
        ranks = _cached_ranks(path, key)
        if ranks is None:
            log(f"== ranking variant '{name}'")
            model = loader(bundle)
            systems = variant_systems(
                variant, model, model_legacy_dim(model, variant_config.model.legacy_dim)
            )
            ranks = _store_ranks(evaluate_systems(systems, sets, windows, cfg), path, key)
        combined = _join(combined, ranks)
    if baselines and cfg.baselines:
        path = out / "baselines" / "ranks.parquet"
        key = _fingerprint([eval_key, list(cfg.baselines)])
        ranks = _cached_ranks(path, key)
        if ranks is None:
            log(f"== ranking baselines: {', '.join(cfg.baselines)}")
            ranks = _store_ranks(
                evaluate_systems(baseline_systems(cfg.baselines, config), sets, windows, cfg), path, key
            )
        combined = _join(combined, ranks)
    if combined is None:
        raise OmniSageError("no variants to rank")
    return combined, windows, sets, config


def _mtime(path: Path) -> float:
    files = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return max(files, default=0.0)


def training_logs(out: Path, names: Sequence[str]) -> dict[str, Path]:
    from omnisage.train.loop import METRICS

    return {n: out / "variants" / n / METRICS for n in names if (out / "variants" / n / METRICS).is_file()}


def pair_mask(table: pa.Table, task: str, action: str | None = None, no_text: bool = False) -> Any:
    mask = pc.equal(table.column("task"), task)
    if action is not None:
        mask = pc.and_(mask, pc.equal(table.column("action"), action))
    if no_text:
        mask = pc.and_(mask, pc.invert(pc.fill_null(table.column("has_text"), True)))
    return mask.to_numpy(zero_copy_only=False)


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
    loader: Loader = default_loader,
    plots: bool = True,
    readme: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """`omnisage ablate`: train and rank the variants, then write OUT/ablations.md and OUT/ablations.json."""
    from omnisage.eval.ablation_tables import ablation_report

    out = Path(out)
    table, _, sets, config = run_ablations(
        data,
        out,
        preset,
        overrides,
        tables=tables,
        entities=entities,
        trainer=trainer,
        loader=loader,
        log=log,
    )
    report, markdown = ablation_report(table, config.eval, tables, command, sets)
    write_text(out / "ablations.json", json.dumps(report, indent=1, default=str) + "\n")
    write_text(out / "ablations.md", markdown)
    logs = training_logs(out, list(VARIANTS))
    if plots and logs:
        from omnisage.eval.plots import plot_training

        plot_training(logs, out / "training_curves.png")
    if readme is not None:
        from omnisage.eval.report import update_readme

        body = markdown.split("\n## ", 1)[1] if "\n## " in markdown else markdown
        update_readme(readme, "ablate", "### " + body.replace("\n## ", "\n### "), command)
    return report
