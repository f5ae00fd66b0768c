"""Training pairs: window bounds, actions per dataset, uniqueness, seeded popularity caps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa

from omnisage.config import EvalConfig, TrainConfig
from omnisage.schema import TIMESTAMP
from omnisage.train.pairs import own_board_titles, training_pairs, training_window


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


def _boards(rows: list[tuple[str, str]]) -> pa.Table:
    board_id, title = zip(*rows)
    return pa.table({"board_id": list(board_id), "title": list(title), "owner": ["u"] * len(rows)})


def _board_saves(rows: list[tuple[str, str, int]]) -> pa.Table:
    board_id, pin_id, day = zip(*rows)
    ts = [datetime(2024, 1, d, tzinfo=UTC) for d in day]
    return pa.table({"board_id": list(board_id), "pin_id": list(pin_id), "ts": pa.array(ts, TIMESTAMP)})


def test_own_board_titles_are_those_only_the_pairs_saves_put_on_the_pin():
    log = _log(
        [
            ("sofa", "pin", "p1", "save", 3),  # made board b3; b2's title is on p1 from another save too
            ("chair", "pin", "p2", "save", 3),  # saved twice, to b4 then b5
            ("chair", "pin", "p2", "save", 5),
            ("lamp", "pin", "p3", "save", 4),  # to a board it was already on: no board save of its own
            ("lamp", "pin", "p4", "long_click", 4),
        ]
    )
    boards = _boards(
        [
            ("b1", "Living Room Sofas"),
            ("b2", "living  room sofas"),  # the same title after cleaning
            ("b3", "Cozy COUCH"),
            ("b4", "Chairs"),
            ("b5", "Reading Nook"),
            ("b6", "my favorites"),  # stop words only: no title
            ("b7", "lamps"),
        ]
    )
    saves = _board_saves(
        [
            ("b1", "p1", 1),
            ("b2", "p1", 3),
            ("b3", "p1", 3),
            ("b4", "p2", 3),
            ("b5", "p2", 5),
            ("b6", "p2", 5),
            ("b7", "p3", 2),
            ("b3", "p4", 4),  # another pin at the same time: not p4's pair's save
        ]
    )
    end = datetime(2024, 1, 9, tzinfo=UTC)
    pairs = training_pairs(log, start=None, end=end, caps={}, seed=0)["pin"]
    assert pairs.column("query_text").to_pylist() == ["chair", "lamp", "lamp", "sofa"]

    def own(keep_repeats: bool, **kwargs) -> list[list[str]]:
        window = {"start": None, "end": end} | kwargs
        titles = own_board_titles(pairs, log, boards, saves, **window, keep_repeats=keep_repeats)
        return titles.to_pylist()

    # chair: its latest save only (b4 was on the pin before it); sofa: b3 alone, b2 shares b1's title
    assert own(True) == [["reading nook"], [], [], ["cozy couch"]]
    assert own(False) == [["chairs", "reading nook"], [], [], ["cozy couch"]]
    # Only saves before the cutoff count: with it on day 5, the chair pair made b4 alone
    assert own(False, end=datetime(2024, 1, 5, tzinfo=UTC))[0] == ["chairs"]
