"""`omnisage train`: a data directory in, a model bundle out (paper §3.4–3.5, §4.1; SPEC §3–5).

Reads the logs and the enriched entity table, builds the training pairs and the catalog, a fresh model,
the tasks and the loss, then runs the loop (`fit`) and saves the bundle to `OUT/model`. Rerunning the same
command resumes from the latest checkpoint in `OUT/checkpoints`. Under torchrun every worker runs this.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.distributed as dist

from omnisage.config import Config, ModelConfig, config_to_dict
from omnisage.data.validate import load_world
from omnisage.errors import DataError, OmniSageError
from omnisage.losses.multitask import MultiTaskLoss
from omnisage.train.batches import BatchBuilder, BatchPlan, DatasetPairs, allocate
from omnisage.train.catalog import Catalog, entities_from_raw, find_enriched, read_enriched
from omnisage.train.distributed import Workers, init_workers, shutdown_workers
from omnisage.train.loop import fit, resolve_device
from omnisage.train.objective import TrainingObjective, tasks_for
from omnisage.train.pairs import DATASETS, own_board_titles, pairs_for_config, training_window
from omnisage.train.scratch_encoder import materialize

if TYPE_CHECKING:
    pass

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
    train = config.train
    wanted = _TABLES + (["boards", "board_saves"] if _leaves_out_boards(config) else [])
    world = load_world(
        directory, [t for t in wanted if any(directory.glob(f"{t}.*")) or (directory / t).is_dir()]
    )
    if world.get("engagements") is None:
        raise DataError("no engagements table: training needs the search logs", path=str(directory))
    enriched_path = Path(enriched) if enriched is not None else find_enriched(directory)
    if enriched_path is not None and enriched_path.is_dir() and find_enriched(enriched_path) is not None:
        enriched_path = find_enriched(enriched_path)  # the `omnisage enrich` output folder
    if enriched_path is not None:
        entities = read_enriched(enriched_path)
    else:
        entities = entities_from_raw(world)
        notes.append("no enriched entity table: trained on raw text (run `omnisage enrich` for board titles "
                     "and engaged queries)")  # fmt: skip
    model_config = _adopt_data_dims(config.model, entities, notes)
    if "legacy" in train.towers and model_config.legacy_dim > model_config.dim:
        raise OmniSageError(
            f"the compatibility tower scores the first model.legacy_dim={model_config.legacy_dim} dims of the "
            f"query embedding, but model.dim is {model_config.dim}: --set model.dim={model_config.legacy_dim} "
            "(or more), or train without it (train.towers without legacy)"
        )
    engagements = world["engagements"]
    start, end = training_window(engagements, train, config.eval)
    raw_pairs = pairs_for_config(engagements, train, config.eval)
    if _leaves_out_boards(config) and "pin" in raw_pairs:
        if world.get("boards") is None or world.get("board_saves") is None:
            notes.append(
                "train.board_leave_one_out: no boards and board_saves tables, board titles kept whole"
            )
        else:
            own = own_board_titles(
                raw_pairs["pin"],
                engagements,
                world["boards"],
                world["board_saves"],
                start=start,
                end=end,
                keep_repeats=train.keep_repeat_queries,
            )
            raw_pairs["pin"] = raw_pairs["pin"].append_column("own_board_titles", own)
            leaving = pc.sum(pc.greater(pc.list_value_length(own), 0)).as_py() or 0
            notes.append(
                f"pin: {leaving:,} of {len(own):,} pairs leave out of their positive the board titles only "
                "their own save put there (train.board_leave_one_out)"
            )
    queries: list[str] = []
    if world.get("queries") is not None:
        queries += world["queries"].column("query_text").to_pylist()
    for name, table in raw_pairs.items():
        queries += table.column("query_text").to_pylist()
        if DATASETS[name][0] == "query":
            queries += table.column("entity_id").to_pylist()
    catalog = Catalog.build(entities, queries, model_config.legacy_dim)
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
            own_board_titles=_tuples(table.column("own_board_titles"))
            if "own_board_titles" in table.column_names
            else None,
        )
    if not pairs:
        span = f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}" if start else f"before {end:%Y-%m-%d}"
        raise DataError(
            f"no training pairs in the training window ({span}; see train.window_*)", path=str(directory)
        )
    window = (start.isoformat() if start else None, end.isoformat())
    return TrainData(catalog, pairs, model_config, window, notes)


def _leaves_out_boards(config: Config) -> bool:
    train = config.train
    return train.leave_one_out and train.board_leave_one_out and "board_titles" in config.model.text_fields


def _tuples(column: pa.ChunkedArray) -> np.ndarray:
    """A list column as a (P,) object array of tuples (an empty list: an empty tuple)."""
    out = np.empty(len(column), dtype=object)
    out[:] = [tuple(v) for v in column.to_pylist()]
    return out


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
    from omnisage.model.bundle import save_model
    from omnisage.model.features import build_vocabulary
    from omnisage.model.omnisage_model import OmniSageModel

    train = config.train
    out_dir = Path(out_dir)
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    workers = init_workers(device)
    if device.type == "cuda":
        device = torch.device("cuda", workers.local_rank)
        torch.cuda.set_device(device)
    try:
        data = load_training_data(data_dir, config, enriched)
        say = log if workers.is_main else (lambda *_: None)
        for note in data.notes:
            say(f"note: {note}")
        vocab = build_vocabulary(
            data.catalog.entities, data.model_config, progress=progress and workers.is_main
        )
        start_from = _query_encoder_start(data.model_config, out_dir, train.seed, workers)
        model = OmniSageModel.create(start_from, vocab, seed=train.seed)  # the same weights on every worker
        model.config = data.model_config  # the bundle records "scratch" rather than the init folder
        tasks = tasks_for(tuple(data.pairs), train.towers)
        if not tasks:
            raise OmniSageError(
                f"no task: train.towers={train.towers} trains on none of {sorted(data.pairs)}"
            )
        loss = MultiTaskLoss(
            tasks,
            sketch_width=train.sketch_width,
            temperature=train.temperature,
            prefix_weights=tuple(zip(train.prefix_dims, train.prefix_weights)),
        )
        uses_entities = any(t.tower == "entity" for t in tasks)
        objective = TrainingObjective(model, loss)
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
        features = model.featurizer.features(data.catalog.entities) if uses_entities else None
        builder = BatchBuilder(
            plan,
            data.catalog,
            features,
            towers=train.towers,
            tokenize_queries=model.tokenize_queries,
            leave_one_out=train.leave_one_out,
            keep_repeats=train.keep_repeat_queries,
        )
        say(_plan_text(data, per_worker, tasks, workers))
        torch.manual_seed(train.seed + 1 + workers.rank)  # dropout differs per worker, reproducibly
        result = fit(
            objective,
            builder,
            train,
            out_dir,
            workers=workers,
            device=device,
            progress=progress,
            settings=config_to_dict(data.model_config),
        )
        summary = {
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "window": {"start": data.window[0], "end": data.window[1]},
            "pairs": {name: len(p.query_ids) for name, p in data.pairs.items()},
            "pairs_per_step": {name: n * workers.world_size for name, n in per_worker.items()},
            "epochs": plan.epoch(result.steps - 1),
            "tasks": [t.name for t in tasks],
            "workers": workers.world_size,
            "final_losses": result.last_losses,
            "pairs_per_second": result.pairs_per_second,
            "precision": result.precision,
            "notes": data.notes,
            "config": config_to_dict(dataclasses.replace(config, model=data.model_config)),
        }
        if workers.is_main:
            model_dir = out_dir / MODEL_DIR
            save_model(model_dir, model.to("cpu"))
            (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            summary["model_dir"] = str(model_dir)
        return summary
    finally:
        shutdown_workers()


def _query_encoder_start(model: ModelConfig, out_dir: Path, seed: int, workers: Workers) -> ModelConfig:
    """The config to create the model from: a "scratch" query encoder is first written to OUT."""
    if model.query_encoder != "scratch":
        return model
    folder = out_dir / "query_encoder_init"
    if workers.is_main:
        materialize(model.scratch, folder, seed)
    if workers.distributed:
        dist.barrier()
    return dataclasses.replace(model, query_encoder=str(folder))


def _plan_text(data: TrainData, per_worker: dict[str, int], tasks: list, workers: Workers) -> str:
    lines = [f"training window: {data.window[0] or 'start of logs'} .. {data.window[1]}"]
    for name, pairs in data.pairs.items():
        share = per_worker[name] * workers.world_size
        lines.append(f"  {name:<16} {len(pairs.query_ids):>10,} pairs  {share:>6,} per step")
    lines.append(f"tasks: {', '.join(t.name for t in tasks)}; {workers.world_size} worker(s)")
    lines.append(f"catalog: {data.catalog.size('pin'):,} pins, {data.catalog.size('product'):,} products, "
                 f"{data.catalog.size('query'):,} queries")  # fmt: skip
    return "\n".join(lines)
