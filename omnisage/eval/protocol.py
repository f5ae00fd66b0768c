"""Held-out evaluation sets (paper §4.2): time windows, sampled pairs and random corpora.

The last `eval_days` of the logs form the evaluation window; training and every log-derived feature stop
`gap_days` before it (`eval_windows`). Unique (query, entity) pairs are sampled per (task, action) from the
window, and each task's positives are later ranked against a uniformly random corpus of its entity type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.config import EvalConfig
from omnisage.data.io import find_table, read_table
from omnisage.errors import DataError
from omnisage.schema import ENGAGEMENTS, QUERIES

TASKS = (
    "pin",
    "product",
    "query",
)  # a task is named by its entity type; query→query uses queries on both sides


@dataclass(frozen=True)
class Windows:
    """Half-open time ranges: training and features use logs before `train_end`; evaluation [start, end)."""

    train_end: datetime
    eval_start: datetime
    eval_end: datetime


def eval_windows(log_end: datetime, eval_days: int, gap_days: int) -> Windows:
    """Whole UTC days: the evaluation window ends at the midnight after the last logged event `log_end`,
    so a log that ends on 2024-07-01 trains and enriches with `--as-of 2024-06-16` (14 days + 1 gap day)."""
    if eval_days <= 0 or gap_days < 0:
        raise DataError(f"eval window needs eval_days > 0 and gap_days >= 0, got {eval_days}, {gap_days}")
    log_end = log_end.astimezone(UTC)
    eval_end = log_end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    eval_start = eval_end - timedelta(days=eval_days)
    return Windows(eval_start - timedelta(days=gap_days), eval_start, eval_end)


def log_windows(engagements: pa.Table, cfg: EvalConfig) -> Windows:
    if engagements.num_rows == 0:
        raise DataError("the engagement log is empty: nothing to evaluate")
    return eval_windows(pc.max(engagements.column("ts")).as_py(), cfg.eval_days, cfg.gap_days)


# The columns of every EvalSet.pairs, in order. Cached ranks are keyed on it, so adding a column re-ranks.
PAIR_COLUMNS = ("query_text", "entity_id", "action", "lang", "has_text", "pair")


@dataclass
class EvalSet:
    """The held-out pairs of one task and the random corpus their positives are ranked against.

    Entities live in one index space `entity_ids` (the corpus plus every positive): `positives[i]` is
    pair i's positive and `corpus` is the random corpus, in random order, as indexes into it.
    """

    task: str
    pairs: pa.Table  # query_text, entity_id, action, lang, has_text, pair (new/repeat): one row per pair (N)
    entity_ids: np.ndarray  # (U,) str
    positives: np.ndarray  # (N,) int64
    corpus: np.ndarray  # (M,) int64
    exclude: np.ndarray | None = None  # (N,) one more entity to skip per pair (the query itself), -1 none
    entities: pa.Table | None = None  # (U rows) enriched rows aligned with entity_ids; None for queries
    dropped: dict[str, int] = field(default_factory=dict)  # pairs left out, by reason

    @property
    def queries(self) -> list[str]:
        return self.pairs.column("query_text").to_pylist()


def _actions(cfg: EvalConfig, task: str) -> tuple[str, ...]:
    return {"pin": cfg.pin_actions, "product": cfg.product_actions, "query": cfg.query_actions}[task]


def _window_pairs(engagements: pa.Table, windows: Windows, task: str, action: str) -> pa.Table:
    """Unique (query_text, entity_id) pairs of one task and action inside the evaluation window, sorted."""
    ts = engagements.column("ts")
    start = pa.scalar(windows.eval_start, ts.type)
    end = pa.scalar(windows.eval_end, ts.type)
    mask = pc.and_(
        pc.and_(
            pc.equal(engagements.column("entity_type"), task), pc.equal(engagements.column("action"), action)
        ),
        pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)),
    )
    rows = engagements.filter(mask).select(["query_text", "entity_id"])
    if task == "query":  # a query is not its own related query
        rows = rows.filter(pc.not_equal(rows.column("query_text"), rows.column("entity_id")))
    unique = rows.group_by(["query_text", "entity_id"], use_threads=False).aggregate([])
    return unique.sort_by([("query_text", "ascending"), ("entity_id", "ascending")])


def _pair_key(query_text: pa.ChunkedArray | pa.Array, entity_id: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(query_text, entity_id, "\x1f")


def _pair_history(engagements: pa.Table, pairs: pa.Table, task: str, windows: Windows) -> pa.Array:
    """Per held-out pair: "repeat" if the same (query, entity) was engaged (any action of the task) before
    `train_end`, where a model can have learned it, else "new". A model can memorize repeat pairs; only the
    new ones show how it generalizes to queries and items it never saw together."""
    if pairs.num_rows == 0:
        return pa.array([], pa.string())
    ts = engagements.column("ts")
    before = pc.and_(
        pc.equal(engagements.column("entity_type"), task), pc.less(ts, pa.scalar(windows.train_end, ts.type))
    )
    seen = engagements.filter(before)
    known = pc.is_in(
        _pair_key(pairs.column("query_text"), pairs.column("entity_id")),
        value_set=pc.unique(_pair_key(seen.column("query_text"), seen.column("entity_id"))),
    )
    return pc.if_else(known, "repeat", "new")


def _catalog(entities: pa.Table | None, queries: pa.Table, task: str) -> pa.Table:
    """The task's catalog with the columns the evaluation needs (entity_id, lang, has_text, row)."""
    if task == "query":
        return pa.table(
            {
                "entity_id": queries.column("query_text"),
                "lang": queries.column("lang"),
                "has_text": pa.array(np.ones(queries.num_rows, dtype=bool)),
                "row": pa.array(np.arange(queries.num_rows, dtype=np.int64)),
            }
        )
    if entities is None:
        raise DataError(f"the {task} task needs the enriched entity table (run `omnisage enrich`)")
    rows = np.flatnonzero(np.asarray(pc.equal(entities.column("entity_type"), task)))
    subset = entities.take(rows)

    def filled(name: str) -> pa.ChunkedArray:
        col = subset.column(name)
        return pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0), False)

    return pa.table(
        {
            "entity_id": subset.column("entity_id"),
            "lang": subset.column("lang"),
            "has_text": pc.or_(filled("title"), filled("description")),
            "row": pa.array(rows.astype(np.int64)),
        }
    )


def build_eval_set(
    task: str,
    engagements: pa.Table,
    queries: pa.Table,
    entities: pa.Table | None,
    cfg: EvalConfig,
    windows: Windows,
) -> EvalSet:
    """Sample the task's held-out pairs per action and draw its random corpus (seeded by cfg.seed)."""
    catalog = _catalog(entities, queries, task)
    catalog_ids = catalog.column("entity_id")
    rng = np.random.default_rng([cfg.seed, TASKS.index(task)])
    pairs, dropped = _sampled_pairs(engagements, catalog_ids, task, cfg, windows, rng)
    at = pc.index_in(pairs.column("entity_id"), value_set=catalog_ids)
    pairs = _described_pairs(pairs, at, queries, catalog, engagements, task, windows)

    # The corpus: a uniformly random sample of the catalog; the universe = corpus ∪ positives.
    n_corpus = min(cfg.corpus_size, catalog.num_rows)
    corpus_rows = rng.choice(catalog.num_rows, size=n_corpus, replace=False)  # random order
    positive_rows = np.asarray(at, dtype=np.int64)
    universe, inverse = np.unique(np.concatenate([corpus_rows, positive_rows]), return_inverse=True)
    corpus, positives = inverse[:n_corpus], inverse[n_corpus:]
    entity_ids = np.asarray(catalog_ids.take(pa.array(universe)).to_numpy(zero_copy_only=False), dtype=object)
    rows = pa.array(catalog.column("row").to_numpy()[universe])
    enriched = None if task == "query" else entities.take(rows)  # type: ignore[union-attr]
    # A query is not its own related query: skip it when it sits in the corpus.
    exclude = _self_slots(pairs, catalog_ids, universe) if task == "query" else None
    return EvalSet(
        task,
        pairs,
        entity_ids,
        positives.astype(np.int64),
        corpus.astype(np.int64),
        exclude,
        enriched,
        dropped,
    )


def _sampled_pairs(
    engagements: pa.Table,
    catalog_ids: pa.ChunkedArray,
    task: str,
    cfg: EvalConfig,
    windows: Windows,
    rng: np.random.Generator,
) -> tuple[pa.Table, dict[str, int]]:
    """Up to cfg.pairs_per_action held-out (query_text, entity_id, action) pairs per action, and the drop counts."""
    dropped: dict[str, int] = {}
    parts = []
    for action in _actions(cfg, task):
        pairs = _window_pairs(engagements, windows, task, action)
        known = pc.is_in(pairs.column("entity_id"), value_set=catalog_ids)
        missing = pairs.num_rows - pc.sum(known).as_py() if pairs.num_rows else 0
        if missing:
            dropped["not_in_catalog"] = dropped.get("not_in_catalog", 0) + missing
        pairs = pairs.filter(known)
        take = np.sort(rng.permutation(pairs.num_rows)[: cfg.pairs_per_action])
        pairs = pairs.take(take)
        parts.append(pairs.append_column("action", pa.array([action] * pairs.num_rows, pa.string())))
    pairs = pa.concat_tables(parts) if parts else pa.table({"query_text": [], "entity_id": [], "action": []})
    return pairs, dropped


def _described_pairs(
    pairs: pa.Table,
    at: pa.Array,
    queries: pa.Table,
    catalog: pa.Table,
    engagements: pa.Table,
    task: str,
    windows: Windows,
) -> pa.Table:
    """`pairs` with the PAIR_COLUMNS that describe them: language, whether the entity has text, pair history.
    `at` is each pair's entity row in the catalog."""
    # Language of a pair: the query's, else the entity's.
    query_at = pc.index_in(pairs.column("query_text"), value_set=queries.column("query_text"))
    query_lang = pc.take(queries.column("lang"), query_at)
    entity_lang = pc.take(catalog.column("lang"), at)
    lang = pc.fill_null(pc.coalesce(query_lang, entity_lang), "und")
    pairs = (
        pairs.append_column("lang", lang)
        .append_column("has_text", pc.take(catalog.column("has_text"), at))
        .append_column("pair", _pair_history(engagements, pairs, task, windows))
    )
    assert tuple(pairs.column_names) == PAIR_COLUMNS, pairs.column_names
    return pairs


def _self_slots(pairs: pa.Table, catalog_ids: pa.ChunkedArray, universe: np.ndarray) -> np.ndarray:
    """Per pair, the universe slot of its own query (the query task's catalog is the queries), -1 when absent."""
    self_rows = pc.fill_null(pc.index_in(pairs.column("query_text"), value_set=catalog_ids), -1)
    self_rows = np.asarray(self_rows, dtype=np.int64)
    slot = np.searchsorted(universe, self_rows).clip(0, max(len(universe) - 1, 0))
    found = (self_rows >= 0) & (len(universe) > 0) & (universe[slot] == self_rows)
    return np.where(found, slot, -1).astype(np.int64)


def _read(directory: Path, name: str, spec) -> pa.Table | None:
    path = find_table(directory, name)
    return None if path is None else read_table(path, spec)


def load_eval_sets(
    data_dir: str | Path, entities: pa.Table | None, cfg: EvalConfig, tasks: tuple[str, ...] = TASKS
) -> tuple[dict[str, EvalSet], Windows]:
    """Read the logs of `data_dir` and build the evaluation set of each task that has pairs in the window."""
    data_dir = Path(data_dir)
    engagements = _read(data_dir, "engagements", ENGAGEMENTS)
    if engagements is None:
        raise DataError("no engagements table found", path=str(data_dir))
    queries = _read(data_dir, "queries", QUERIES)
    if queries is None:  # the query catalog can be derived from the logs
        texts = pc.unique(engagements.column("query_text"))
        queries = pa.table({"query_text": texts, "lang": pa.nulls(len(texts), pa.string())})
    windows = log_windows(engagements, cfg)
    sets = {}
    for task in tasks:
        if task != "query" and (
            entities is None or not pc.any(pc.equal(entities.column("entity_type"), task)).as_py()
        ):
            continue
        evalset = build_eval_set(task, engagements, queries, entities, cfg, windows)
        if evalset.pairs.num_rows:
            sets[task] = evalset
    return sets, windows
