"""Baselines through the protocol: random is at chance, BM25 and the zero-shot encoder match hand counts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from omnisage.config import EvalConfig
from omnisage.eval.baselines import BM25System, RandomSystem, item_texts, zero_shot_system
from omnisage.eval.evaluate import evaluate_systems
from omnisage.eval.protocol import EvalSet, load_eval_sets
from omnisage.eval.systems import compatibility_system

CFG = EvalConfig(bootstrap=100)


def test_item_text_joins_present_fields_and_list_items(toy_world) -> None:
    _, entities = toy_world
    texts = item_texts(entities.slice(2, 2), ("title", "description", "board_titles"))
    assert texts == ["green sofa . green things", "black things"]  # pin 3 has no title
    assert item_texts(entities.slice(3, 1), ("title",)) == [""]


def test_random_is_at_chance() -> None:
    n, m = 3000, 99  # each pair has its own positive, ranked against the same 99 corpus entities
    rng = np.random.default_rng(0)
    evalset = EvalSet(
        "pin",
        pa.table({"query_text": [f"q{i}" for i in range(n)]}),
        np.array([f"e{i}" for i in range(m + n)], dtype=object),
        np.arange(m, m + n),
        rng.permutation(m),
    )
    ev = evaluate_systems([RandomSystem(seed=1)], {"pin": evalset}, None, CFG)  # type: ignore[arg-type]
    recall = np.mean(ev.ranks["random"]["pin"][:, -1] <= 10)
    assert recall == pytest.approx(10 / 100, abs=0.02)


def test_bm25_ranks_match_the_hand_count(toy_world) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, CFG)
    titles = BM25System(fields=("title",), name="bm25-title")
    captions = BM25System(fields=("caption",), name="bm25-caption")
    ev = evaluate_systems([titles, captions], sets, windows, CFG)
    has_text = np.array(sets["pin"].pairs.column("has_text").to_pylist())
    by_title = ev.ranks["bm25-title"]["pin"][:, -1]
    # Only the twin (same title) ties; an untitled pin scores 0 like every other non-matching pin.
    assert set(by_title[has_text].tolist()) == {2}
    assert by_title[~has_text].min() > 10
    # Every pin has a caption, so captions alone rank every positive next to its twin.
    assert set(ev.ranks["bm25-caption"]["pin"][:, -1].tolist()) == {2}
    # 'red sofa' -> 'red lamp': 'red' (4 queries) is rarer than 'sofa' (5), so only 'red chair' and
    # 'red rug' tie with the positive; the query itself is skipped.
    assert ev.ranks["bm25-title"]["query"][0, -1] == 3


def test_compatibility_system_uses_the_query_prefix_and_legacy_vectors(toy_world) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, replace(CFG, corpus_size=20))

    class Legacy:
        """A query encoder that returns each positive's legacy vector, padded: a perfect compat tower."""

        def __init__(self, table: pa.Table):
            self.by_query = {}
            for row in table.to_pylist():
                if row["entity_type"] != "product":
                    continue
                query = " ".join(row["caption"].split()[-2:])
                self.by_query.setdefault(query, row["legacy_vector"])

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            return np.array([[*self.by_query.get(t, [0.0] * 8), 5.0, 5.0] for t in texts], np.float32)

    ev = evaluate_systems(
        [compatibility_system(Legacy(entities), legacy_dim=8)], {"product": sets["product"]}, windows, CFG
    )
    assert set(ev.ranks["omnisage-compat"]["product"][:, -1].tolist()) == {1}


@pytest.mark.slow
def test_zero_shot_minilm_ranks_identical_titles_first(toy_world) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, CFG)
    system = zero_shot_system(("title",))
    ev = evaluate_systems([system], {"pin": sets["pin"]}, windows, CFG)
    has_text = np.array(sets["pin"].pairs.column("has_text").to_pylist())
    assert set(ev.ranks["zero_shot"]["pin"][has_text, -1].tolist()) == {2}  # itself and its twin
    vectors = system.encode_queries(["red sofa", "Red sofa"])
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert vectors[0] @ vectors[1] == pytest.approx(1.0, abs=1e-5)  # uncased model
