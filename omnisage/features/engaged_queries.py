"""Engaged queries (paper §3.2.3): per pin/product, the queries that led to engagement, top 20.

An item's engaged queries come from the logs of the window before the cutoff `as_of`: for each query the
count of each action; score = Σ_action weight[action] · count[action]; ranked by score descending, then
query text (so ties are broken the same way everywhere). Query→query clicks are not an item feature.

The window is measured in buckets of `bucket_days` UTC days (BUCKET_DAYS; a saved state records its own;
bucket = ⌊epoch day / bucket_days⌋): a log row counts when ts < as_of and its bucket ≥ bucket(as_of) −
⌈window_days / bucket_days⌉. Whole buckets leave the window, so a kept state of per-bucket counts can be
updated exactly:

    state(as_of₂) = expire(state(as_of₁) ∪ counts(logs with as_of₁ ≤ ts < as_of₂))

where the state holds one row per (entity, query, bucket) with per-action counts; merging sums counts of
equal keys and expiring drops buckets that left the window. An update reads only the new logs. With
`state_cap` > 0 the state keeps only the cap best queries per entity (bounded size, no longer exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import EnrichConfig
from omnisage.data.io import write_table
from omnisage.errors import DataError, OmniSageError
from omnisage.features.engines import Engine
from omnisage.schema import ACTIONS

DAY_US = 86_400_000_000
BUCKET_DAYS = 1  # granularity of the incremental state (and of the window's start)
_KEYS = ("entity_type", "entity_id", "query_text")
_COUNTS = tuple(f"n_{a}" for a in ACTIONS)

LOG_SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("entity_type", "entity_id", "query_text", "action")]
    + [("ts_us", pa.int64()), ("bucket", pa.int64())]
)
STATE_SCHEMA = pa.schema(
    [(k, pa.string()) for k in _KEYS] + [("bucket", pa.int64())] + [(c, pa.int64()) for c in _COUNTS]
)
TOP_SCHEMA = pa.schema(
    [
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("query_rank", pa.int32()),
        ("query_text", pa.string()),
    ]
    + [("score", pa.float64())]
    + [(c, pa.int64()) for c in _COUNTS]
)


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime."""
    if ts.tzinfo is None:
        raise OmniSageError(f"timestamp {ts.isoformat()} has no time zone")
    return round(ts.timestamp() * 1_000_000)


@dataclass(frozen=True)
class Window:
    """The log rows that count as of a cutoff: ts < as_of_us and bucket ≥ first_bucket."""

    as_of_us: int
    first_bucket: int
    bucket_days: int

    @classmethod
    def of(cls, as_of: datetime | int, window_days: int, bucket_days: int = BUCKET_DAYS) -> Window:
        if window_days < 1 or bucket_days < 1:
            raise OmniSageError("enrich.window_days and the bucket size must be at least 1 day")
        as_of_us = as_of if isinstance(as_of, int) else to_us(as_of)
        current = as_of_us // (DAY_US * bucket_days)
        return cls(as_of_us, current - math.ceil(window_days / bucket_days), bucket_days)


def log_table(engagements: pa.Table, bucket_days: int) -> pa.Table:
    """The engagement columns the SQL reads: integer microseconds and the time bucket of each row."""
    ts = engagements.column("ts").cast(pa.int64())
    bucket = np.floor_divide(ts.to_numpy(), DAY_US * bucket_days) if len(ts) else np.zeros(0, np.int64)
    cols = [engagements.column(n) for n in ("entity_type", "entity_id", "query_text", "action")]
    return pa.Table.from_arrays([*cols, ts, pa.array(bucket, pa.int64())], schema=LOG_SCHEMA)


def _weights(config: EnrichConfig) -> dict[str, float]:
    unknown = set(config.action_weights) - set(ACTIONS)
    if unknown:
        raise OmniSageError(
            f"enrich.action_weights: unknown action(s) {sorted(unknown)} (known: {', '.join(ACTIONS)})"
        )
    weights = {a: float(config.action_weights.get(a, 0.0)) for a in ACTIONS}
    if not all(math.isfinite(w) and w >= 0 for w in weights.values()):
        raise OmniSageError(f"enrich.action_weights must be finite and non-negative, got {weights}")
    return weights


def _count_actions() -> str:
    return ", ".join(
        f"CAST(SUM(CASE WHEN action = '{a}' THEN 1 ELSE 0 END) AS BIGINT) AS n_{a}" for a in ACTIONS
    )


def _sum_counts() -> str:
    return ", ".join(f"CAST(SUM({c}) AS BIGINT) AS {c}" for c in _COUNTS)


def _ranked(counts: str, weights: dict[str, float]) -> str:
    """CTEs `scored` and `ranked` over a relation `counts` of per-(entity, query) action counts."""
    # Integer counts first, then one fixed sequence of float operations: identical bits on every engine.
    score = " + ".join(f"CAST(n_{a} AS DOUBLE) * CAST({weights[a]!r} AS DOUBLE)" for a in ACTIONS)
    cols = ", ".join((*_KEYS, *_COUNTS))
    return f"""scored AS (SELECT {cols}, {score} AS score FROM {counts}),
ranked AS (
  SELECT {cols}, score, CAST(ROW_NUMBER() OVER (
    PARTITION BY entity_type, entity_id ORDER BY score DESC, query_text) AS INT) AS query_rank
  FROM scored
)"""


def _top_sql(counts_cte: str, weights: dict[str, float], k: int) -> str:
    return f"""WITH {counts_cte},
{_ranked("counts", weights)}
SELECT entity_type, entity_id, query_rank, query_text, score, {", ".join(_COUNTS)}
FROM ranked WHERE query_rank <= {int(k)}"""


def full_sql(window: Window, weights: dict[str, float], k: int) -> str:
    """Top-k engaged queries straight from the logs of the window (the full recompute)."""
    counts = f"""counts AS (
  SELECT entity_type, entity_id, query_text, {_count_actions()}
  FROM engagement_log
  WHERE entity_type IN ('pin', 'product') AND ts_us < {window.as_of_us} AND bucket >= {window.first_bucket}
  GROUP BY entity_type, entity_id, query_text
)"""
    return _top_sql(counts, weights, k)


def update_sql(window: Window, since_us: int | None, weights: dict[str, float], cap: int) -> str:
    """The merged and expired state: `state` ∪ per-bucket counts of the new logs (ts ≥ since_us).

    New logs only reach buckets from bucket(since_us) on: older state rows pass through untouched (only
    expiry filters them), so an update costs a scan of the state plus an aggregation of the new logs.
    """
    since = f" AND ts_us >= {since_us}" if since_us is not None else ""
    touched = (
        max(window.first_bucket, since_us // (DAY_US * window.bucket_days))
        if since_us is not None
        else window.first_bucket
    )
    cols = ", ".join((*_KEYS, "bucket", *_COUNTS))
    sql = f"""WITH fresh AS (
  SELECT entity_type, entity_id, query_text, bucket, {_count_actions()}
  FROM engagement_log
  WHERE entity_type IN ('pin', 'product') AND ts_us < {window.as_of_us} AND bucket >= {window.first_bucket}{since}
  GROUP BY entity_type, entity_id, query_text, bucket
),
merged AS (
  SELECT {cols} FROM state WHERE bucket >= {window.first_bucket} AND bucket < {touched}
  UNION ALL
  SELECT entity_type, entity_id, query_text, bucket, {_sum_counts()}
  FROM (SELECT {cols} FROM state WHERE bucket >= {touched} UNION ALL SELECT {cols} FROM fresh) u
  GROUP BY entity_type, entity_id, query_text, bucket
)"""
    if cap <= 0:
        return f"{sql}\nSELECT {cols} FROM merged"
    totals = f"totals AS (SELECT entity_type, entity_id, query_text, {_sum_counts()} FROM merged GROUP BY entity_type, entity_id, query_text)"
    on = " AND ".join(f"m.{c} = r.{c}" for c in _KEYS)
    return f"""{sql},
{totals},
{_ranked("totals", weights)}
SELECT {", ".join(f"m.{c}" for c in (*_KEYS, "bucket", *_COUNTS))}
FROM merged m JOIN ranked r ON {on} WHERE r.query_rank <= {int(cap)}"""


def state_top_sql(window: Window, weights: dict[str, float], k: int) -> str:
    counts = f"""counts AS (
  SELECT entity_type, entity_id, query_text, {_sum_counts()}
  FROM state WHERE bucket >= {window.first_bucket}
  GROUP BY entity_type, entity_id, query_text
)"""
    return _top_sql(counts, weights, k)


def _sorted(table: pa.Table, schema: pa.Schema, keys: list[str]) -> pa.Table:
    """An engine's unordered result in contract form: declared types, deterministic row order."""
    table = table.select(schema.names).cast(schema)
    return table.sort_by([(k, "ascending") for k in keys])


def engaged_queries(
    engine: Engine,
    engagements: pa.Table,
    as_of: datetime | int,
    config: EnrichConfig,
    *,
    bucket_days: int = BUCKET_DAYS,
) -> pa.Table:
    """Full recompute: the top `config.top_queries` engaged queries of every item (TOP_SCHEMA, long form).
    `bucket_days`: the window's granularity (tests compare other sizes with the incremental state)."""
    window = Window.of(as_of, config.window_days, bucket_days)
    engine.register("engagement_log", log_table(engagements, bucket_days))
    result = engine.query(full_sql(window, _weights(config), config.top_queries))
    return _sorted(result, TOP_SCHEMA, ["entity_type", "entity_id", "query_rank"])


@dataclass(frozen=True)
class EngagedQueryState:
    """Per-(entity, query, bucket) action counts of the window before `as_of_us` (STATE_SCHEMA)."""

    table: pa.Table
    as_of_us: int | None  # None: nothing merged yet
    window_days: int
    bucket_days: int
    cap: int
    weights: dict[str, float]

    @classmethod
    def empty(cls, config: EnrichConfig, *, bucket_days: int = BUCKET_DAYS) -> EngagedQueryState:
        return cls(
            STATE_SCHEMA.empty_table(),
            None,
            config.window_days,
            bucket_days,
            config.state_cap,
            _weights(config),
        )

    def _meta(self) -> dict[bytes, bytes]:
        fields = {
            "as_of_us": self.as_of_us,
            "window_days": self.window_days,
            "bucket_days": self.bucket_days,
            "cap": self.cap,
        }
        meta = {f"omnisage.{k}".encode(): str(v).encode() for k, v in fields.items()}
        meta[b"omnisage.weights"] = ",".join(f"{a}={w!r}" for a, w in self.weights.items()).encode()
        return meta

    def save(self, path: str | Path) -> Path:
        """Write the state atomically: an interrupted update leaves the previous state intact."""
        if self.as_of_us is None:
            raise OmniSageError("cannot save an empty engaged-query state")
        return write_table(self.table.replace_schema_metadata(self._meta()), path)

    @classmethod
    def load(cls, path: str | Path) -> EngagedQueryState:
        try:
            table = pq.read_table(path)
            meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
            weights = dict(kv.split("=") for kv in meta["omnisage.weights"].split(","))
            state = cls(
                table.replace_schema_metadata(None).cast(STATE_SCHEMA),
                int(meta["omnisage.as_of_us"]),
                int(meta["omnisage.window_days"]),
                int(meta["omnisage.bucket_days"]),
                int(meta["omnisage.cap"]),
                {a: float(w) for a, w in weights.items()},
            )
        except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
            raise DataError(f"not an engaged-query state file ({exc})", path=str(path)) from None
        return state

    def check_compatible(self, config: EnrichConfig, path: str | Path = "state") -> None:
        """The state's bucket size is its own (recorded in the file); the window and cap are the config's."""
        ours = (self.window_days, self.cap)
        theirs = (config.window_days, config.state_cap)
        if ours != theirs or (self.cap > 0 and self.weights != _weights(config)):
            raise OmniSageError(
                f"{path}: the state was built with window_days, state_cap = {ours} "
                f"(and weights {self.weights}); the config asks for {theirs}: rebuild it (delete the file)"
            )


def update_state(
    engine: Engine,
    state: EngagedQueryState,
    new_engagements: pa.Table,
    as_of: datetime | int,
    config: EnrichConfig,
) -> EngagedQueryState:
    """Merge the logs of [state.as_of, as_of) into the state and expire buckets that left the window.

    Rows of `new_engagements` before the state's cutoff are ignored (they are already counted), as are rows
    at or after `as_of`. Starting from `EngagedQueryState.empty` builds the state from the whole window.
    """
    state.check_compatible(config)
    window = Window.of(as_of, state.window_days, state.bucket_days)
    if state.as_of_us is not None and window.as_of_us < state.as_of_us:
        raise OmniSageError(
            "--as-of is earlier than the cutoff of the engaged-query state: cannot go back in time"
        )
    logs = log_table(new_engagements, state.bucket_days)
    if (
        state.as_of_us is not None
    ):  # only the new rows travel to the engine (a Spark cluster never sees old logs)
        logs = logs.filter(pc.greater_equal(logs.column("ts_us"), state.as_of_us))
    engine.register("engagement_log", logs)
    engine.register("state", state.table)
    merged = engine.query(update_sql(window, state.as_of_us, state.weights, state.cap))
    table = merged.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)  # rows in no particular order
    return EngagedQueryState(
        table, window.as_of_us, state.window_days, state.bucket_days, state.cap, state.weights
    )


def top_from_state(engine: Engine, state: EngagedQueryState, config: EnrichConfig) -> pa.Table:
    """The top `config.top_queries` engaged queries of every item from a state (TOP_SCHEMA, long form)."""
    if state.as_of_us is None:
        raise OmniSageError("the engaged-query state is empty: update it with the logs first")
    window = Window.of(state.as_of_us, state.window_days, state.bucket_days)
    engine.register("state", state.table)
    result = engine.query(state_top_sql(window, _weights(config), config.top_queries))
    return _sorted(result, TOP_SCHEMA, ["entity_type", "entity_id", "query_rank"])
