"""Evaluation sets and the end-to-end protocol on a toy world whose keyword-retrieval ranks are known by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from omnisage.config import EvalConfig
from omnisage.eval.evaluate import evaluate_systems, rank_table, summarize
from omnisage.eval.protocol import _pair_history, eval_windows, load_eval_sets
from omnisage.eval.systems import model_system

CFG = EvalConfig(bootstrap=200)


def test_windows_are_back_to_back_with_the_gap() -> None:
    last = datetime(2024, 6, 30, 23, 46, 20, tzinfo=UTC)
    w = eval_windows(last, eval_days=14, gap_days=1)
    assert w.eval_end == datetime(2024, 7, 1, tzinfo=UTC)  # whole days: the midnight after the last event
    assert w.eval_end - w.eval_start == timedelta(days=14)
    assert w.train_end == datetime(2024, 6, 16, tzinfo=UTC)
    midnight = eval_windows(datetime(2024, 7, 1, tzinfo=UTC), 14, 1)
    assert midnight.eval_end == datetime(2024, 7, 2, tzinfo=UTC)  # an event at 00:00 is still evaluated


def test_sets_hold_only_window_pairs_and_a_random_corpus(toy_world, log_end) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, CFG)
    assert windows.eval_end == log_end  # the last event is on June 30: the window ends at midnight
    pins = sets["pin"]
    # Every pin is saved once in the window; its long click 100 days earlier is training data.
    assert set(pins.pairs.column("action").to_pylist()) == {"save"}
    assert pins.pairs.num_rows == 40 and pins.dropped == {"not_in_catalog": 1}
    assert sorted(pins.entity_ids[pins.positives]) == sorted(pins.pairs.column("entity_id").to_pylist())
    assert len(pins.corpus) == 40 and len(set(pins.corpus.tolist())) == 40  # the whole (small) catalog
    assert sum(pins.pairs.column("has_text").to_pylist()) == 30
    assert set(pins.pairs.column("pair").to_pylist()) == {"repeat"}  # each was long-clicked 100 days before
    queries = sets["query"]
    assert queries.pairs.column("entity_id").to_pylist() == ["red lamp"]  # the self-click is gone
    assert queries.pairs.column("lang").to_pylist() == ["fr"]
    assert queries.entity_ids[queries.exclude[0]] == "red sofa"


def test_sampling_caps_pairs_and_corpus_and_is_seeded(toy_world) -> None:
    data, entities = toy_world
    cfg = replace(CFG, pairs_per_action=7, corpus_size=12)
    a, _ = load_eval_sets(data, entities, cfg)
    b, _ = load_eval_sets(data, entities, cfg)
    assert a["pin"].pairs.num_rows == 7 and len(a["pin"].corpus) == 12
    assert a["pin"].pairs.equals(b["pin"].pairs)
    assert np.array_equal(a["pin"].entity_ids[a["pin"].corpus], b["pin"].entity_ids[b["pin"].corpus])
    c, _ = load_eval_sets(data, entities, replace(cfg, seed=99))
    assert not np.array_equal(a["pin"].entity_ids[a["pin"].corpus], c["pin"].entity_ids[c["pin"].corpus])


def test_keyword_model_recall_matches_the_hand_count(toy_world, keyword_model) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, CFG)
    ev = evaluate_systems([model_system(keyword_model, "keyword")], sets, windows, CFG)
    table = rank_table(ev)
    pins = ev.ranks["keyword"]["pin"][:, -1]
    has_text = np.array(sets["pin"].pairs.column("has_text").to_pylist())
    # A titled pin ties only with its twin (same title, i ± 20) -> rank 2; an untitled pin scores 0 and
    # every other corpus pin scores >= 0 -> rank 40 (the corpus is 40 pins minus itself, plus one).
    assert set(pins[has_text].tolist()) == {2} and set(pins[~has_text].tolist()) == {40}
    assert set(ev.ranks["keyword"]["product"][:, -1].tolist()) == {1}
    # 'red sofa' -> 'red lamp' (0.5): 6 other queries share one word with it; itself is skipped -> 7.
    assert ev.ranks["keyword"]["query"][:, -1].tolist() == [7]
    rows = {(r["task"], r["slice"], r["value"]): r for r in summarize(table, CFG)}
    assert rows[("pin", "all", "all")]["recall"] == pytest.approx(0.75)
    assert rows[("pin", "action", "save")]["pairs"] == 40
    assert rows[("product", "all", "all")]["recall"] == 1.0
    assert rows[("query", "lang", "fr")]["recall"] == 1.0
    no_text = summarize(table, CFG, no_text=True)
    assert [(r["task"], r["recall"]) for r in no_text if r["slice"] == "all"] == [("pin", 0.0)]
    # The whole-corpus point of the curve equals the summary; a 1-item corpus gives rank <= 2.
    small = replace(CFG, curve_sizes=(1,))
    ev_small = evaluate_systems([model_system(keyword_model, "keyword")], sets, windows, small)
    assert ev_small.ranks["keyword"]["pin"].shape == (40, 2)
    assert ev_small.ranks["keyword"]["pin"][:, 0].max() <= 2


def test_a_pair_is_new_unless_the_same_task_engaged_it_before_the_training_cutoff() -> None:
    w = eval_windows(datetime(2024, 6, 30, tzinfo=UTC), eval_days=14, gap_days=1)
    day = timedelta(days=1)
    log = pa.table(
        {
            "query_text": ["sofa", "sofa", "lamp", "rug", "rug"],
            "entity_type": ["pin", "pin", "pin", "product", "pin"],
            "entity_id": ["p1", "p2", "p1", "p3", "p4"],
            "action": ["long_click", "save", "save", "save", "save"],
            "ts": [w.train_end - 30 * day, w.train_end + 0.5 * day, w.train_end - day, w.train_end - day,
                   w.train_end + 2 * day],
        }
    )  # fmt: skip
    held_out = pa.table(
        {
            "query_text": ["sofa", "sofa", "lamp", "rug", "rug"],
            "entity_id": ["p1", "p2", "p2", "p3", "p4"],
        }
    )
    # p1: engaged with "sofa" before the cutoff (another action counts); p2: only in the gap; "lamp" engaged
    # p1, not p2; p3 was a product, not a pin; p4 only after the cutoff.
    got = _pair_history(log, held_out, "pin", w).to_pylist()
    assert got == ["repeat", "new", "new", "new", "new"]
    assert _pair_history(log, held_out.slice(0, 0), "pin", w).to_pylist() == []
