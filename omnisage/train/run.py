"""`omnisage train`: a data directory in, a model bundle out (paper §3.4–3.5, §4.1).

`train_model` is the pipeline: load the data (pairs and catalog) -> build the model -> build the objective
(tasks, loss) and the batches -> `fit` -> save the bundle to `OUT/model`. Rerunning the same command resumes
from the latest checkpoint in `OUT/checkpoints`. Under torchrun every worker runs this.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.distributed as dist

from omnisage.config import Config, ModelConfig, TrainConfig, config_to_dict
from omnisage.data.validate import World, load_world
from omnisage.errors import DataError, OmniSageError
from omnisage.losses.multitask import MultiTaskLoss, Task
from omnisage.model.features import RowFeatures
from omnisage.train.batches import BatchBuilder, BatchPlan, DatasetPairs, allocate
from omnisage.train.catalog import Catalog, entities_from_raw, find_enriched, read_enriched
from omnisage.train.distributed import Workers, init_workers, shutdown_workers
from omnisage.train.loop import FitResult, fit, resolve_device
from omnisage.train.objective import TrainingObjective, tasks_for
from omnisage.train.pairs import DATASETS, pairs_for_config, training_window
from omnisage.train.scratch_encoder import check_fits, materialize

if TYPE_CHECKING:
    from omnisage.model.omnisage_model import OmniSageModel

MODEL_DIR = "model"
SUMMARY = "train_summary.json"
_TABLES = ["engagements", "queries", "pins", "products", "legacy_embeddings", "image_embeddings"]


@dataclass
class TrainData:
    """Everything the loop trains on, built from a data directory."""

    catalog: Catalog
    pairs: dict[str, DatasetPairs]
    model_config: ModelConfig
    window: tuple[str | None, str]
    notes: list[str] = field(default_factory=list)  # what the user should know (fallbacks, dropped pairs)


def _vector_width(entities: pa.Table, column: str) -> int | None:
    col = entities.column(column)
    lengths = pc.drop_null(pc.list_value_length(col))
    return int(lengths[0].as_py()) if len(lengths) else None


def _adopt_data_dims(model: ModelConfig, entities: pa.Table, notes: list[str]) -> ModelConfig:
    """The continuous feature widths come from the data; a config that disagrees is corrected, with a note."""
    changes = {}
    for column, name in (("legacy_vector", "legacy_dim"), ("image_vector", "image_dim")):
        width = _vector_width(entities, column)
        if width is not None and width != getattr(model, name):
            changes[name] = width
            notes.append(f"model.{name} set to {width} (the width of {column} in the data)")
    return dataclasses.replace(model, **changes) if changes else model


def load_training_data(data_dir: str | Path, config: Config, enriched: str | Path | None = None) -> TrainData:
    """Validated tables -> pairs per dataset (as catalog ids) and the catalog."""
    notes: list[str] = []
    directory = Path(data_dir)
    world = _read_world(directory)
    entities = _read_entities(world, directory, enriched, notes)
    model_config = _adopt_data_dims(config.model, entities, notes)
    _check_legacy_width(model_config, config.train)
    engagements = world["engagements"]
    start, end = training_window(engagements, config.train, config.eval)
    raw_pairs = pairs_for_config(engagements, config.train, config.eval)
    catalog = Catalog.build(entities, _catalog_queries(world, raw_pairs), model_config.legacy_dim)
    pairs = _pairs_as_ids(raw_pairs, catalog, notes)
    if not pairs:
        span = f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}" if start else f"before {end:%Y-%m-%d}"
        raise DataError(
            f"no training pairs in the training window ({span}; see train.window_*)", path=str(directory)
        )
    window = (start.isoformat() if start else None, end.isoformat())
    return TrainData(catalog, pairs, model_config, window, notes)


def _read_world(directory: Path) -> World:
    """The validated tables training reads, those `directory` holds; the engagements must be among them."""
    present = [t for t in _TABLES if any(directory.glob(f"{t}.*")) or (directory / t).is_dir()]
    world = load_world(directory, present)
    if world.get("engagements") is None:
        raise DataError("no engagements table: training needs the search logs", path=str(directory))
    return world


def _read_entities(world: World, directory: Path, enriched: str | Path | None, notes: list[str]) -> pa.Table:
    """The enriched entity table (`enriched`, or the one in `directory`); without one, the raw pins and products."""
    path = Path(enriched) if enriched is not None else find_enriched(directory)
    if path is not None and path.is_dir() and find_enriched(path) is not None:
        path = find_enriched(path)  # the `omnisage enrich` output folder
    if path is not None:
        return read_enriched(path)
    notes.append("no enriched entity table: trained on raw text (run `omnisage enrich` for board titles "
                 "and engaged queries)")  # fmt: skip
    return entities_from_raw(world)


def _check_legacy_width(model: ModelConfig, train: TrainConfig) -> None:
    """The compatibility tower needs a query embedding at least as wide as the legacy vectors."""
    if "legacy" in train.towers and model.legacy_dim > model.dim:
        raise OmniSageError(
            f"the compatibility tower scores the first model.legacy_dim={model.legacy_dim} dims of the "
            f"query embedding, but model.dim is {model.dim}: --set model.dim={model.legacy_dim} "
            "(or more), or train without it (train.towers without legacy)"
        )


def _catalog_queries(world: World, raw_pairs: dict[str, pa.Table]) -> list[str]:
    """Every query text the catalog must know: the queries table's, the pairs' queries and related queries."""
    queries: list[str] = []
    if world.get("queries") is not None:
        queries += world["queries"].column("query_text").to_pylist()
    for name, table in raw_pairs.items():
        queries += table.column("query_text").to_pylist()
        if DATASETS[name][0] == "query":
            queries += table.column("entity_id").to_pylist()
    return queries


def _pairs_as_ids(
    raw_pairs: dict[str, pa.Table], catalog: Catalog, notes: list[str]
) -> dict[str, DatasetPairs]:
    """Each dataset's pairs as catalog ids; pairs whose entity the catalog lacks, and empty datasets, are left
    out with a note."""
    pairs: dict[str, DatasetPairs] = {}
    for name, table in raw_pairs.items():
        kind = DATASETS[name][0]
        known = pc.is_in(table.column("entity_id"), value_set=pa.array(catalog.ids[kind], pa.string()))
        missing = table.num_rows - pc.sum(known).as_py() if table.num_rows else 0
        if missing:
            notes.append(
                f"{name}: {missing:,} pairs left out, their {kind} is not in the enriched entity table"
            )
            table = table.filter(known)
        if table.num_rows == 0:
            notes.append(f"{name}: no training pairs in the window; dataset skipped")
            continue
        pairs[name] = DatasetPairs(
            name,
            kind,
            catalog.lookup("query", table.column("query_text"), "query"),
            catalog.lookup(kind, table.column("entity_id"), kind),
            repeats=pc.greater(table.column("engagements"), 1).to_numpy(zero_copy_only=False),
        )
    return pairs


def train_model(
    data_dir: str | Path,
    out_dir: str | Path,
    config: Config,
    *,
    enriched: str | Path | None = None,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Train on `data_dir`, save the bundle to `out_dir/model`, return the run summary."""
    train, out_dir = config.train, Path(out_dir)
    workers, device = _start_workers(train)
    try:
        data = load_training_data(data_dir, config, enriched)
        say = log if workers.is_main else (lambda *_: None)
        for note in data.notes:
            say(f"note: {note}")
        model = build_model(data, train, out_dir, workers, progress=progress and workers.is_main)
        objective = build_objective(model, data, train)
        batches = build_batches(model, objective, data, train, workers)
        say(_plan_text(data, batches.plan.per_worker, objective.loss.tasks, workers))
        torch.manual_seed(train.seed + 1 + workers.rank)  # dropout differs per worker, reproducibly
        result = fit(
            objective,
            batches,
            train,
            out_dir,
            workers=workers,
            device=device,
            progress=progress,
            settings=config_to_dict(data.model_config),
        )
        summary = _summary(config, data, model, objective, batches.plan, result, workers)
        if workers.is_main:
            summary["model_dir"] = str(_save(out_dir, model, summary))
        return summary
    finally:
        shutdown_workers()


def _start_workers(train: TrainConfig) -> tuple[Workers, torch.device]:
    """Torch threads, the device and (under torchrun) the process group; each GPU worker takes its local GPU."""
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    workers = init_workers(device)
    if device.type == "cuda":
        device = torch.device("cuda", workers.local_rank)
        torch.cuda.set_device(device)
    return workers, device


def build_model(
    data: TrainData, train: TrainConfig, out_dir: Path, workers: Workers, *, progress: bool
) -> OmniSageModel:
    """A fresh model: the vocabulary of the catalog's entities, a query encoder, seeded weights."""
    from omnisage.model.features import build_vocabulary
    from omnisage.model.omnisage_model import OmniSageModel

    vocab = build_vocabulary(data.catalog.entities, data.model_config, progress=progress)
    start_from = _query_encoder_start(data.model_config, out_dir, train.seed, workers)
    model = OmniSageModel.create(start_from, vocab, seed=train.seed)  # the same weights on every worker
    model.config = data.model_config  # the bundle records "scratch" rather than the init folder
    return model


def build_objective(model: OmniSageModel, data: TrainData, train: TrainConfig) -> TrainingObjective:
    """The tasks of the datasets with pairs, their multi-task loss, and the encoders it trains."""
    tasks = tasks_for(allocate(train.batch_size, {n: train.mix[n] for n in data.pairs}), train.towers)
    if not tasks:
        raise OmniSageError(f"no task: train.towers={train.towers} trains on none of {sorted(data.pairs)}")
    loss = MultiTaskLoss(
        tasks,
        sketch_width=train.sketch_width if train.logq else None,
        temperature=train.temperature,
        prefix_weights=tuple(zip(train.prefix_dims, train.prefix_weights)),
    )
    return TrainingObjective(model, loss)


def build_batches(
    model: OmniSageModel, objective: TrainingObjective, data: TrainData, train: TrainConfig, workers: Workers
) -> BatchBuilder:
    """The batch of each (step, worker): the pairs split by `train.mix`, featurized for the model's encoders."""
    per_worker = allocate(train.batch_size, {n: train.mix[n] for n in data.pairs})
    sizes = {kind: data.catalog.size(kind) for kind in ("pin", "product", "query")}
    plan = BatchPlan(
        data.pairs,
        per_worker,
        sizes,
        negatives_per_pair=train.negatives_per_pair,
        world_size=workers.world_size,
        seed=train.seed,
    )
    uses_entities = any(t.tower == "entity" for t in objective.loss.tasks)
    features = RowFeatures(model.featurizer, data.catalog.entities) if uses_entities else None
    return BatchBuilder(
        plan,
        data.catalog,
        features,
        towers=train.towers,
        tokenize_queries=model.tokenize_queries,
        leave_one_out=train.leave_one_out,
    )


def _summary(
    config: Config,
    data: TrainData,
    model: OmniSageModel,
    objective: TrainingObjective,
    plan: BatchPlan,
    result: FitResult,
    workers: Workers,
) -> dict[str, Any]:
    """What the run did, saved as `train_summary.json` beside the bundle."""
    return {
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "window": {"start": data.window[0], "end": data.window[1]},
        "pairs": {name: len(p.query_ids) for name, p in data.pairs.items()},
        "pairs_per_step": {name: n * workers.world_size for name, n in plan.per_worker.items()},
        "epochs": plan.epoch(result.steps - 1),
        "tasks": [t.name for t in objective.loss.tasks],
        "workers": workers.world_size,
        "final_losses": result.last_losses,
        "pairs_per_second": result.pairs_per_second,
        "precision": result.precision,
        "notes": data.notes,
        "config": config_to_dict(dataclasses.replace(config, model=data.model_config)),
    }


def _save(out_dir: Path, model: OmniSageModel, summary: dict[str, Any]) -> Path:
    """The bundle to `OUT/model` and the summary beside it (the main worker only); returns the bundle's folder."""
    from omnisage.model.bundle import save_model

    model_dir = out_dir / MODEL_DIR
    save_model(model_dir, model.to("cpu"))
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return model_dir


def _query_encoder_start(model: ModelConfig, out_dir: Path, seed: int, workers: Workers) -> ModelConfig:
    """The config to create the model from: a "scratch" query encoder is first written to OUT."""
    if model.query_encoder != "scratch":
        return model
    check_fits(model)
    folder = out_dir / "query_encoder_init"
    if workers.is_main:
        materialize(model.scratch, folder, seed)
    if workers.distributed:
        dist.barrier()
    return dataclasses.replace(model, query_encoder=str(folder))


def _plan_text(data: TrainData, per_worker: dict[str, int], tasks: Sequence[Task], workers: Workers) -> str:
    """The run at a glance: window, pairs and their share of a step per dataset, tasks, catalog."""
    lines = [f"training window: {data.window[0] or 'start of logs'} .. {data.window[1]}"]
    for name, pairs in data.pairs.items():
        share = per_worker[name] * workers.world_size
        lines.append(f"  {name:<16} {len(pairs.query_ids):>10,} pairs  {share:>6,} per step")
    lines.append(f"tasks: {', '.join(t.name for t in tasks)}; {workers.world_size} worker(s)")
    lines.append(f"catalog: {data.catalog.size('pin'):,} pins, {data.catalog.size('product'):,} products, "
                 f"{data.catalog.size('query'):,} queries")  # fmt: skip
    return "\n".join(lines)
