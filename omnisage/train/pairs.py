"""Training pairs (paper §4.1): unique (query, entity) pairs per dataset from a window of the logs.

Datasets: query→pin from saves and long clicks, query→product onsite (save, long click) and offsite
(add to cart, checkout), query→query from related-query clicks. Popular entities are capped: each keeps
a seeded random subset of at most `cap` of its pairs, so a few viral pins do not dominate training.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.config import EvalConfig, TrainConfig
from omnisage.errors import DataError, OmniSageError

# dataset -> (entity type of its positives, engagement actions that make a pair)
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pin": ("pin", ("save", "long_click")),
    "product_onsite": ("product", ("save", "long_click")),
    "product_offsite": ("product", ("add_to_cart", "checkout")),
    "query": ("query", ("click",)),
}
PAIR_SCHEMA = pa.schema(
    [
        pa.field("query_text", pa.string()),
        pa.field("entity_id", pa.string()),
        pa.field("engagements", pa.int64()),  # of the dataset's actions, in the window
    ]
)


def _parse_day(value: str, setting: str) -> datetime:
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        raise OmniSageError(
            f"config train.{setting}: expected an ISO date like 2024-01-31, got {value!r}"
        ) from None
    return day.replace(tzinfo=UTC) if day.tzinfo is None else day


def training_window(
    engagements: pa.Table, train: TrainConfig, eval_cfg: EvalConfig
) -> tuple[datetime | None, datetime]:
    """[start, end) of the training logs. By default the window ends where the evaluation window's gap
    begins (the last `eval_days + gap_days` of the logs are held out) and spans `window_days` days."""
    if train.window_end is not None:
        end = _parse_day(train.window_end, "window_end")
    else:
        if engagements.num_rows == 0:
            raise DataError("the engagement log is empty: no training pairs")
        log_end = pc.max(engagements.column("ts")).as_py() + timedelta(microseconds=1)
        end = log_end - timedelta(days=eval_cfg.eval_days + eval_cfg.gap_days)
    if train.window_start is not None:
        start = _parse_day(train.window_start, "window_start")
    elif train.window_days is not None:
        start = end - timedelta(days=train.window_days)
    else:
        start = None
    if start is not None and start >= end:
        raise OmniSageError(
            f"training window is empty: start {start:%Y-%m-%d} is not before end {end:%Y-%m-%d}"
        )
    return start, end


def _cap(pairs: pa.Table, cap: int | None, rng: np.random.Generator) -> pa.Table:
    """Keep at most `cap` pairs per entity, chosen uniformly at random (seeded)."""
    if cap is None or pairs.num_rows == 0:
        return pairs
    entity = pc.dictionary_encode(pairs.column("entity_id")).combine_chunks().indices.to_numpy()  # (P,)
    order = np.lexsort((rng.random(entity.size), entity))  # (P,) grouped by entity, random within
    grouped = entity[order]
    first = np.r_[0, np.flatnonzero(grouped[1:] != grouped[:-1]) + 1]  # (E,) start of each group
    rank = np.arange(order.size) - np.repeat(first, np.diff(np.r_[first, order.size]))  # (P,)
    keep = np.sort(order[rank < cap])
    return pairs.take(pa.array(keep))


def training_pairs(
    engagements: pa.Table,
    *,
    start: datetime | None,
    end: datetime,
    caps: dict[str, int | None],
    seed: int,
    datasets: tuple[str, ...] = tuple(DATASETS),
) -> dict[str, pa.Table]:
    """Unique (query_text, entity_id) pairs of each dataset, sorted, from engagements with start <= ts < end,
    with the pair's number of `engagements` in the window (more than one: it repeats, see `BatchBuilder`).

    `caps` maps an entity type (pin, product, query) to its per-entity cap (None: no cap).
    """
    ts = engagements.column("ts")
    in_window = pc.less(ts, pa.scalar(end, ts.type))
    if start is not None:
        in_window = pc.and_(in_window, pc.greater_equal(ts, pa.scalar(start, ts.type)))
    logs = engagements.filter(in_window).select(["query_text", "entity_type", "entity_id", "action"])
    out: dict[str, pa.Table] = {}
    for index, name in enumerate(datasets):
        entity_type, actions = DATASETS[name]
        mask = pc.and_(
            pc.equal(logs.column("entity_type"), entity_type),
            pc.is_in(logs.column("action"), pa.array(actions)),
        )
        rows = logs.filter(mask).select(["query_text", "entity_id"])
        if entity_type == "query":  # a query is not its own related query
            rows = rows.filter(pc.not_equal(rows.column("query_text"), rows.column("entity_id")))
        unique = rows.group_by(["query_text", "entity_id"], use_threads=False).aggregate([([], "count_all")])
        unique = unique.rename_columns(["query_text", "entity_id", "engagements"])
        unique = unique.sort_by([("query_text", "ascending"), ("entity_id", "ascending")])
        rng = np.random.default_rng([seed, index])
        out[name] = _cap(unique, caps.get(entity_type), rng).cast(PAIR_SCHEMA)
    return out


def pairs_for_config(engagements: pa.Table, train: TrainConfig, eval_cfg: EvalConfig) -> dict[str, pa.Table]:
    """The pairs of every dataset the config's mix uses."""
    unknown = sorted(set(train.mix) - set(DATASETS))
    if unknown:
        raise OmniSageError(f"config train.mix: unknown dataset {unknown} (known: {', '.join(DATASETS)})")
    start, end = training_window(engagements, train, eval_cfg)
    used = tuple(name for name in DATASETS if train.mix.get(name, 0) > 0)
    caps = {"pin": train.pin_cap, "product": train.product_cap, "query": train.query_cap}
    return training_pairs(engagements, start=start, end=end, caps=caps, seed=train.seed, datasets=used)
