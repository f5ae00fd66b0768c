"""The experiment harness that `omnisage ablate` and `omnisage bench` share: train (or resume, or reuse) each
variant into OUT/variants/<name> under a lock and a settings pin, rank its towers, and cache ranks by a
fingerprint of what produced them, so a rerun only does what is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.atomic import write_text
from omnisage.config import Config
from omnisage.data.io import write_table
from omnisage.errors import OmniSageError
from omnisage.eval.evaluate import Evaluation, rank_table
from omnisage.eval.run import model_systems
from omnisage.eval.systems import System, model_system
from omnisage.experiments.variants import Variant

PAIR_KEY = ("task", "query_text", "entity_id", "action")
Log = Callable[[str], None]
# (variant, its folder, its config) -> anything: trains (or resumes) into the folder, as `train_model` does
Train = Callable[[Variant, Path, Config], Any]
# variant -> (its config, the settings pinned beside it: what must match for a later run to reuse the folder)
Plan = Callable[[Variant], tuple[Config, dict[str, Any]]]


def fingerprint(value: Any) -> str:
    """A stable 16-hex-digit digest of a JSON-ready value (never Python's salted `hash()`)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pin_settings(path: Path, settings: dict[str, Any]) -> None:
    """Record the settings that produced a folder; a later run with other settings must not reuse it."""
    settings = json.loads(json.dumps(settings, default=str))  # as the file reads back: tuples are lists
    if path.is_file() and json.loads(path.read_text(encoding="utf-8")) != settings:
        raise OmniSageError(f"{path.parent} was made with other settings; use another --out or delete it")
    write_text(path, json.dumps(settings, indent=1) + "\n")


class VariantLocked(OmniSageError):
    """Another process is training this variant right now."""


@contextmanager
def training_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on FOLDER/train.lock while a variant trains, so two processes sharing an --out
    (`ablate --train-only` runs in parallel) never train the same variant at once. The operating system
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


@dataclass(frozen=True)
class Trained:
    config: Config
    bundle: Path  # FOLDER/model
    seconds: float  # spent training in this run (about 0 when reused)


def train_variant(
    variant: Variant, folder: Path, config: Config, settings: dict, train: Train, log: Log
) -> Trained:
    """Train (or resume, or reuse) one variant into FOLDER, its settings pinned in FOLDER/variant.json."""
    from omnisage.train.run import MODEL_DIR, SUMMARY  # here: importing torch waits until a variant trains

    pin_settings(folder / "variant.json", settings)
    start = time.perf_counter()
    if not (folder / SUMMARY).is_file():
        with training_lock(folder):
            log(f"== training variant '{variant.name}': {variant.about}")
            train(variant, folder, config)
    return Trained(config, folder / MODEL_DIR, time.perf_counter() - start)


def train_variants(
    variants: Sequence[Variant], out: Path, plan: Plan, train: Train, *, log: Log, skip_locked: bool = False
) -> dict[str, Trained]:
    """Train (or resume, or reuse) each variant into OUT/variants/<name>. With `skip_locked`, a variant another
    process is training is skipped (and left out of the result) instead of stopping the run."""
    done = {}
    for variant in variants:
        config, settings = plan(variant)
        try:
            done[variant.name] = train_variant(
                variant, out / "variants" / variant.name, config, settings, train, log
            )
        except VariantLocked as exc:
            if not skip_locked:
                raise
            log(f"== skipping variant '{variant.name}': {exc}")
    return done


def variant_systems(variant: Variant, model: Any, legacy_dim: int) -> list[System]:
    """The towers of a trained variant to rank: learned (`name`) and/or compatibility (`name-compat`, or
    `name` when it has no learned tower), as `omnisage evaluate` names a bundle's towers."""
    if "compat" in variant.towers:
        return model_systems(model, variant.name, legacy_dim, learned="learned" in variant.towers)
    return [model_system(model, variant.name)]


def bundle_mtime(path: Path) -> float:
    """The newest file of a bundle: a retrained bundle gets a new rank-cache key."""
    files = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return max(files, default=0.0)


def cached_ranks(path: Path, key: str) -> pa.Table | None:
    """Stored ranks, if they were computed for the same evaluation settings and model."""
    if not path.is_file():
        return None
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    return table if meta.get(b"omnisage_eval_key", b"").decode() == key else None


def store_ranks(ev: Evaluation, path: Path, key: str) -> pa.Table:
    table = rank_table(ev)
    table = table.replace_schema_metadata({"omnisage_eval_key": key})
    write_table(table, path)
    return table


def join_ranks(base: pa.Table | None, extra: pa.Table) -> pa.Table:
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
