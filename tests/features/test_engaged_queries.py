"""Engaged queries: hand-computed scores and window edges, a brute-force Python oracle, and the incremental
state replayed update by update against a full recompute (exact uncapped; overlap@20 when capped)."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from omnisage.config import EnrichConfig
from omnisage.errors import OmniSageError
from omnisage.features.engaged_queries import (
    BUCKET_DAYS,
    DAY_US,
    EngagedQueryState,
    Window,
    engaged_queries,
    to_us,
    top_from_state,
    update_state,
)
from omnisage.features.engines import DuckDBEngine
from omnisage.schema import ACTIONS_BY_ENTITY

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
CONFIG = EnrichConfig()


def _logs(rows: list[tuple[str, str, str, str, datetime]]) -> pa.Table:
    cols = list(zip(*rows)) if rows else [[]] * 5
    names = ("query_text", "entity_type", "entity_id", "action")
    return pa.table(
        {**{n: pa.array(c, pa.string()) for n, c in zip(names, cols)}, "ts": pa.array(cols[4], TS)}
    )


def random_logs(n: int, seed: int, start: datetime, days: int) -> pa.Table:
    """Skewed random logs over `days` days from `start`: pins, products and related-query clicks."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["pin", "product", "query"], n, p=[0.6, 0.3, 0.1])
    ids = rng.zipf(1.6, n) % 40
    queries = rng.zipf(1.4, n) % 200
    action = [rng.choice(ACTIONS_BY_ENTITY[k]) for k in kinds]
    ts = [start + timedelta(seconds=int(s)) for s in rng.integers(0, days * 86400, n)]
    return pa.table(
        {
            "query_text": [f"query {q}" for q in queries],
            "entity_type": kinds,
            "entity_id": [f"{k[:2]}{i}" for k, i in zip(kinds, ids)],
            "action": action,
            "ts": pa.array(ts, TS),
        }
    )


def _slice(logs: pa.Table, lo: datetime, hi: datetime) -> pa.Table:
    ts = logs.column("ts").cast(pa.int64()).to_numpy()
    return logs.filter(pa.array((ts >= to_us(lo)) & (ts < to_us(hi))))


def _as_dict(top: pa.Table) -> dict[tuple[str, str], list[tuple[str, float]]]:
    out: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for r in top.to_pylist():
        out[(r["entity_type"], r["entity_id"])].append((r["query_text"], r["score"]))
    return dict(out)


def test_hand_computed_scores_ties_and_exclusions():
    rows = [
        ("cookies", "pin", "p1", "save", AS_OF - timedelta(days=1)),
        ("cookies", "pin", "p1", "long_click", AS_OF - timedelta(days=2)),
        ("cookie jar", "pin", "p1", "click", AS_OF - timedelta(hours=1)),
        ("cookie jar", "pin", "p1", "click", AS_OF - timedelta(hours=2)),
        ("biscuits", "pin", "p1", "click", AS_OF - timedelta(hours=3)),
        ("biscuits", "pin", "p1", "click", AS_OF - timedelta(hours=4)),  # ties with "cookie jar": 0.5
        ("cookies", "query", "cookie recipes", "click", AS_OF - timedelta(days=1)),  # query→query
        ("kettle", "product", "d1", "checkout", AS_OF - timedelta(days=3)),
        ("kettle", "product", "d1", "add_to_cart", AS_OF - timedelta(days=3)),
        ("cheap kettle", "product", "d1", "click", AS_OF),  # at the cutoff: excluded
    ]
    top = engaged_queries(DuckDBEngine(), _logs(rows), AS_OF, CONFIG)
    assert _as_dict(top) == {
        ("pin", "p1"): [("cookies", 2.0), ("biscuits", 0.5), ("cookie jar", 0.5)],
        ("product", "d1"): [("kettle", 5.0)],
    }
    first = top.to_pylist()[0]
    assert (first["n_save"], first["n_long_click"], first["n_click"]) == (1, 1, 0)


def test_weights_are_configurable():
    rows = [("saved", "pin", "p", "save", AS_OF - timedelta(days=1))]
    rows += [("clicked", "pin", "p", "click", AS_OF - timedelta(days=1))] * 3
    config = dataclasses.replace(CONFIG, action_weights={**CONFIG.action_weights, "click": 1.0})
    top = engaged_queries(DuckDBEngine(), _logs(rows), AS_OF, config)
    assert _as_dict(top)[("pin", "p")] == [("clicked", 3.0), ("saved", 1.0)]
    with pytest.raises(OmniSageError, match="unknown action"):
        engaged_queries(
            DuckDBEngine(), _logs(rows), AS_OF, dataclasses.replace(CONFIG, action_weights={"like": 1})
        )


def test_window_edges_are_whole_days():
    # window_days = 730: days [day(as_of) - 730, as_of); as_of at noon keeps that day's morning too.
    as_of = AS_OF + timedelta(hours=12)
    first_day = AS_OF - timedelta(days=730)
    rows = [
        ("inside", "pin", "p", "save", first_day),
        ("outside", "pin", "p", "save", first_day - timedelta(microseconds=1)),
        ("morning", "pin", "p", "save", as_of - timedelta(hours=1)),
        ("late", "pin", "p", "save", as_of),
    ]
    window = Window.of(as_of, 730, 1)
    assert window.first_bucket * DAY_US == to_us(first_day)
    top = engaged_queries(DuckDBEngine(), _logs(rows), as_of, CONFIG)
    assert sorted(q for q, _ in _as_dict(top)[("pin", "p")]) == ["inside", "morning"]


def test_empty_logs_give_no_engaged_queries():
    assert engaged_queries(DuckDBEngine(), _logs([]), AS_OF, CONFIG).num_rows == 0


def _oracle(
    logs: pa.Table, as_of: datetime, config: EnrichConfig
) -> dict[tuple[str, str], list[tuple[str, float]]]:
    first = Window.of(as_of, config.window_days).first_bucket
    counts: dict[tuple[str, str], dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for r in logs.to_pylist():
        us = to_us(r["ts"])
        if r["entity_type"] != "query" and us < to_us(as_of) and us // (DAY_US * BUCKET_DAYS) >= first:
            counts[(r["entity_type"], r["entity_id"])][r["query_text"]][r["action"]] += 1
    out = {}
    for entity, per_query in counts.items():
        scored = [(q, sum(config.action_weights[a] * n for a, n in c.items())) for q, c in per_query.items()]
        out[entity] = sorted(scored, key=lambda x: (-x[1], x[0]))[: config.top_queries]
    return out


def test_matches_a_python_oracle():
    logs = random_logs(4000, seed=1, start=AS_OF - timedelta(days=900), days=930)
    top = engaged_queries(DuckDBEngine(), logs, AS_OF, CONFIG)
    got = _as_dict(top)
    want = _oracle(logs, AS_OF, CONFIG)
    assert got.keys() == want.keys()
    for entity in want:
        assert [q for q, _ in got[entity]] == [q for q, _ in want[entity]]
        assert [s for _, s in got[entity]] == pytest.approx([s for _, s in want[entity]])


def _replay(
    logs: pa.Table,
    config: EnrichConfig,
    start: datetime,
    updates: int,
    every: timedelta,
    bucket_days: int = BUCKET_DAYS,
) -> EngagedQueryState:
    """Build the state at `start` from the whole window, then feed it only each period's new logs."""
    engine = DuckDBEngine()
    state = update_state(
        engine,
        EngagedQueryState.empty(config, bucket_days=bucket_days),
        _slice(logs, start - timedelta(days=3000), start),
        start,
        config,
    )
    for i in range(updates):
        lo, hi = start + i * every, start + (i + 1) * every
        state = update_state(engine, state, _slice(logs, lo, hi), hi, config)
    return state


@pytest.mark.parametrize("bucket_days", [1, 7])
def test_incremental_updates_equal_a_full_recompute(bucket_days):
    config = dataclasses.replace(CONFIG, window_days=60)
    start = AS_OF - timedelta(days=40, hours=5)  # off a bucket boundary on purpose
    logs = random_logs(6000, seed=2, start=start - timedelta(days=90), days=140)
    every = timedelta(days=3, hours=7)
    state = _replay(logs, config, start, updates=12, every=every, bucket_days=bucket_days)
    as_of = start + 12 * every
    engine = DuckDBEngine()
    incremental = top_from_state(engine, state, config)
    full = engaged_queries(engine, logs, as_of, config, bucket_days=bucket_days)
    assert incremental.num_rows > 100
    assert incremental.equals(full)
    # Expired buckets left the state: nothing older than the window remains.
    assert min(state.table.column("bucket").to_pylist()) >= Window.of(as_of, 60, bucket_days).first_bucket


def test_capped_state_overlap_at_20():
    config = dataclasses.replace(CONFIG, window_days=60, state_cap=25)
    start = AS_OF - timedelta(days=40)
    logs = random_logs(8000, seed=4, start=start - timedelta(days=90), days=140)
    state = _replay(logs, config, start, updates=10, every=timedelta(days=3))
    capped = _as_dict(top_from_state(DuckDBEngine(), state, config))
    full = _as_dict(engaged_queries(DuckDBEngine(), logs, start + timedelta(days=30), config))
    overlap = np.mean(
        [len({q for q, _ in capped.get(e, [])} & {q for q, _ in full[e]}) / len(full[e]) for e in full]
    )
    print(f"capped state (25 queries per entity): overlap@20 with a full recompute = {overlap:.3f}")
    assert overlap > 0.9
    per_entity = Counter((r["entity_type"], r["entity_id"], r["query_text"]) for r in state.table.to_pylist())
    assert max(Counter(k[:2] for k in per_entity).values()) <= 25


def test_state_round_trip_and_guards(tmp_path):
    logs = random_logs(500, seed=5, start=AS_OF - timedelta(days=100), days=100)
    engine = DuckDBEngine()
    state = update_state(engine, EngagedQueryState.empty(CONFIG), logs, AS_OF, CONFIG)
    path = state.save(tmp_path / "state.parquet")
    loaded = EngagedQueryState.load(path)
    assert loaded.table.equals(state.table) and loaded.as_of_us == state.as_of_us
    with pytest.raises(OmniSageError, match="earlier than the cutoff"):
        update_state(engine, loaded, logs, AS_OF - timedelta(days=1), CONFIG)
    with pytest.raises(OmniSageError, match="rebuild"):
        update_state(engine, loaded, logs, AS_OF, dataclasses.replace(CONFIG, window_days=365))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(OmniSageError, match="not an engaged-query state"):
        EngagedQueryState.load(tmp_path / "junk.parquet")
