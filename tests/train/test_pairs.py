"""Training pairs: window bounds, actions per dataset, uniqueness, seeded popularity caps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa

from omnisage.config import EvalConfig, TrainConfig
from omnisage.schema import TIMESTAMP
from omnisage.train.pairs import training_pairs, training_window


def _log(rows: list[tuple[str, str, str, str, int]]) -> pa.Table:
    q, t, e, a, day = zip(*rows)
    ts = [datetime(2024, 1, d, tzinfo=UTC) for d in day]
    return pa.table(
        {"query_text": q, "entity_type": t, "entity_id": e, "action": a, "ts": pa.array(ts, TIMESTAMP)}
    )


LOG = _log(
    [
        ("sofa", "pin", "p1", "save", 2),
        ("sofa", "pin", "p1", "long_click", 3),  # duplicate pair: kept once
        ("sofa", "pin", "p2", "click", 3),  # plain clicks make no pin pair
        ("chair", "pin", "p2", "save", 1),  # before the window
        ("chair", "pin", "p3", "save", 9),  # at the window end: excluded
        ("lamp", "product", "x1", "save", 4),
        ("lamp", "product", "x1", "checkout", 4),  # the same pair is also offsite
        ("lamp", "product", "x2", "add_to_cart", 5),
        ("lamp", "query", "desk lamp", "click", 5),
        ("lamp", "query", "lamp", "click", 5),  # a query is not its own related query
    ]
)


def test_window_actions_uniqueness_and_counts():
    pairs = training_pairs(
        LOG, start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 9, tzinfo=UTC), caps={}, seed=0
    )
    as_set = {name: set(zip(*t.to_pydict().values())) for name, t in pairs.items()}
    assert as_set == {
        "pin": {("sofa", "p1", 2)},  # saved, then long-clicked: a repeat
        "product_onsite": {("lamp", "x1", 1)},
        "product_offsite": {("lamp", "x1", 1), ("lamp", "x2", 1)},
        "query": {("lamp", "desk lamp", 1)},
    }


def test_caps_keep_a_seeded_subset_per_entity():
    rows = [(f"q{i}", "pin", "hot", "save", 2) for i in range(50)] + [("q0", "pin", "cold", "save", 2)]
    log = _log(rows)
    end = datetime(2024, 2, 1, tzinfo=UTC)
    a = training_pairs(log, start=None, end=end, caps={"pin": 5}, seed=1)["pin"]
    b = training_pairs(log, start=None, end=end, caps={"pin": 5}, seed=1)["pin"]
    c = training_pairs(log, start=None, end=end, caps={"pin": 5}, seed=2)["pin"]
    assert Counter(a.column("entity_id").to_pylist()) == {"hot": 5, "cold": 1}
    assert a.equals(b)
    assert not a.equals(c)


def test_default_window_leaves_out_the_evaluation_window():
    train = TrainConfig(window_days=3)
    start, end = training_window(LOG, train, EvalConfig(eval_days=2, gap_days=1))
    # The last log is Jan 9 00:00; eval covers (Jan 7, Jan 9], the gap (Jan 6, Jan 7].
    assert (end - datetime(2024, 1, 6, tzinfo=UTC)).total_seconds() < 1e-3
    assert (end - start).days == 3
