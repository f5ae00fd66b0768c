"""`omnisage bench`: the real-data product-search benchmark (issue 6), relevance judgments in, Recall@10 out.

adapter (Home Depot CSV, ESCI) → query-level split → training world in the data contracts, with legacy vectors
from a frozen sentence encoder → `enrich` (engaged queries from training logs only) → `train`, once per variant
→ every system ranked on the same held-out pairs against the same random corpus (SPEC §6) → report.
Each stage reuses what an earlier run of the same settings left in OUT (training resumes from checkpoints).
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.bench.legacy import legacy_embeddings
from omnisage.bench.split import BenchSplit, eval_sets, split_by_file, split_by_query, training_set
from omnisage.config import Config, config_to_dict, load_config
from omnisage.data.io import write_table
from omnisage.data.judgments import RelevanceSet, write_world
from omnisage.errors import OmniSageError
from omnisage.eval.ablations import Variant, variant_systems
from omnisage.eval.evaluate import Evaluation, evaluate_systems
from omnisage.eval.systems import System

_OWN_TEXT = "title,description,brand,color"
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "omnisage",
            (),
            ("learned", "compat"),
            "the full model: product text through the query encoder (shared weights) + hashed item text, "
            "engaged queries and legacy vector; query→product, query→query and compatibility tasks",
        ),
        Variant(
            "searchsage",
            ("train.towers=legacy", "train.mix.query=0"),
            ("compat",),
            "SearchSage: the query encoder trained only against the frozen legacy product vectors",
        ),
        Variant(
            "no_engaged_queries",
            (f"model.text_fields={_OWN_TEXT}",),
            ("learned",),
            "the full model without engaged queries (no document expansion)",
        ),
        Variant(
            "single_task",
            ("train.mix.query=0", "train.towers=entity"),
            ("learned",),
            "single task: query→product only (no query→query task, no compatibility tower)",
        ),
    )
}
BASELINES = {
    "bm25": "BM25 over the product's own text",
    "bm25_expanded": "BM25 over the product's own text + its engaged queries (training logs)",
    "zero_shot": "the frozen legacy encoder (all-MiniLM-L6-v2) on queries and product text, untrained",
}
HYBRID = "omnisage+bm25"
HYBRID_ABOUT = "the full model's scores fused with BM25 over the product's own text (per-query z-scores)"
Log = Callable[[str], None]


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _split_key(split: BenchSplit) -> str:
    heldout = split.heldout.column("query_text").to_pylist()
    products = split.training.products.column("product_id").to_pylist()
    return _fingerprint([sorted(set(heldout)), split.about, len(products), products[:100]])


def _pin(path: Path, settings: dict[str, Any]) -> None:
    """Record the settings that produced a folder; a later run with other settings must not reuse it."""
    same = json.loads(json.dumps(settings, default=str))  # as the record reads back
    if path.is_file() and json.loads(path.read_text(encoding="utf-8")) != same:
        raise OmniSageError(f"{path.parent} was made with other settings; use another --out or delete it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1, default=str) + "\n", encoding="utf-8")


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
    if bench.train_min_relevance is not None:
        settings["train_min_relevance"] = bench.train_min_relevance
    _pin(out / "world.settings.json", settings)
    start = time.perf_counter()
    if not (enriched / OUTPUT).is_file():
        log("== training world: the training split in the data contracts")
        write_world(training_set(split, bench.train_min_relevance), world)
        write_table(legacy, world / "legacy_embeddings.parquet")
        (world / "world.json").write_text(json.dumps({"legacy_dim": dim}) + "\n", encoding="utf-8")
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


def train_variants(
    names: list[str], world: Path, enriched: Path, out: Path, preset: str | Path, overrides: list[str],
    split: BenchSplit, dim: int, *, progress: bool, log: Log,
) -> dict[str, tuple[Config, Path, float]]:  # fmt: skip
    """Train (or resume, or reuse) each variant into OUT/variants/<name>; returns its config, bundle, seconds."""
    from omnisage.train.run import MODEL_DIR, SUMMARY, train_model

    done = {}
    for name in names:
        variant = VARIANTS[name]
        config = variant_config(preset, overrides, variant, split, dim)
        folder = out / "variants" / name
        settings = {"variant": name, "split": _split_key(split), "config": config_to_dict(config)}
        _pin(folder / "variant.json", settings)
        start = time.perf_counter()
        if not (folder / SUMMARY).is_file():
            log(f"== training '{name}': {variant.about}")
            train_model(world, folder, config, enriched=enriched, progress=progress, log=log)
        done[name] = (config, folder / MODEL_DIR, time.perf_counter() - start)
    return done


def baseline_systems(names: tuple[str, ...], config: Config, dim: int) -> list[System]:
    from omnisage.eval.baselines import BM25System, MeanPoolEncoder
    from omnisage.eval.systems import EmbeddingSystem, legacy_vectors

    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise OmniSageError(f"config bench.baselines: unknown {unknown} (known: {', '.join(BASELINES)})")
    own = config.bench.legacy_fields
    out: list[System] = []
    for name in names:
        if name == "bm25":
            out.append(BM25System(own, name="bm25"))
        elif name == "bm25_expanded":
            out.append(BM25System((*own, "engaged_queries"), name="bm25_expanded"))
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
    from omnisage.bench.report import bench_report, write_report
    from omnisage.eval.run import load_bundle

    overrides = list(overrides or [])
    config = load_config(preset, overrides)
    unknown = sorted(set(config.bench.variants) - set(VARIANTS))
    if unknown:
        raise OmniSageError(f"config bench.variants: unknown {unknown} (known: {', '.join(VARIANTS)})")
    if config.bench.hybrid_weight is not None and not config.bench.hybrid_weight >= 0:
        raise OmniSageError(f"config bench.hybrid_weight must be >= 0, got {config.bench.hybrid_weight}")
    at = config.bench.train_min_relevance
    if at is not None and not 1.0 <= at <= 3.0:
        raise OmniSageError(f"config bench.train_min_relevance must be on the 1-3 relevance scale, got {at}")
    out = Path(out)
    started = time.perf_counter()
    split = (
        split_by_file(data, test)
        if test is not None
        else split_by_query(data, config.bench.eval_share, config.bench.seed)
    )
    world, enriched, dim, seconds = prepare_world(
        split, out, config, Path(cache_dir), progress=progress, log=log
    )
    trained = train_variants(
        list(config.bench.variants),
        world,
        enriched,
        out,
        preset,
        overrides,
        split,
        dim,
        progress=progress,
        log=log,
    )
    seconds.update({f"train:{name}": t for name, (_, _, t) in trained.items()})
    sets, windows = eval_sets(split, pq.read_table(enriched), config.eval)
    ev = Evaluation(windows, sets)
    log(f"== ranking: {', '.join(f'{t} {s.pairs.num_rows:,} pairs' for t, s in sets.items())}")
    _rank(ev, baseline_systems(config.bench.baselines, config, dim), config)
    for name, (variant_cfg, bundle, _) in trained.items():
        model = load_bundle(bundle)
        systems = variant_systems(VARIANTS[name], model, variant_cfg.model.legacy_dim)
        if name == "omnisage" and config.bench.hybrid_weight is not None:
            systems.append(hybrid_system(model, config))
        _rank(ev, systems, config)
        del model
        gc.collect()
    seconds["evaluation"] = sum(ev.seconds.values())
    if save_model is not None and "omnisage" in trained:
        from omnisage.model.bundle import save_model as save_bundle

        save_bundle(save_model, load_bundle(trained["omnisage"][1]))
    seconds["total"] = time.perf_counter() - started
    report, table = bench_report(ev, config, data, split, trained, seconds, command=command)
    write_report(out, report, table)
    return report


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
