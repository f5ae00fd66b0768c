"""Two-stage ranks: without a re-ranker they are the one-stage protocol's; a re-ranker only reorders the top N."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from omnisage.eval.metrics import DenseScorer, positive_ranks
from omnisage.eval.protocol import EvalSet
from omnisage.relevance.two_stage import two_stage_ranks


def _evalset(
    rng: np.random.Generator, n_pairs: int = 40, n_entities: int = 300
) -> tuple[EvalSet, DenseScorer]:
    queries = rng.normal(size=(n_pairs, 8)).astype(np.float32)
    entities = rng.normal(size=(n_entities, 8)).astype(np.float32)
    positives = rng.integers(0, n_entities, n_pairs)
    corpus = rng.permutation(n_entities)[:250]
    evalset = EvalSet(
        "product", pa.table({"query_text": [f"q{i}" for i in range(n_pairs)]}),
        np.array([f"e{i}" for i in range(n_entities)]), positives, corpus,
    )  # fmt: skip
    return evalset, DenseScorer(queries, entities)


def test_without_a_reranker_the_ranks_are_the_one_stage_protocols():
    evalset, scorer = _evalset(np.random.default_rng(0))
    expected = positive_ranks(scorer, evalset.positives, evalset.corpus)[:, 0]
    assert np.array_equal(two_stage_ranks(scorer, evalset, None, 50, block=7), expected)


def test_an_oracle_reranker_lifts_exactly_the_positives_the_first_stage_kept():
    evalset, scorer = _evalset(np.random.default_rng(1))
    first = two_stage_ranks(scorer, evalset, None, 30)

    def oracle(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return (candidates == evalset.positives[rows][:, None]).astype(np.float64)

    ranks = two_stage_ranks(scorer, evalset, oracle, 30, block=5)
    assert np.array_equal(ranks == 1, first <= 30)  # kept positives go to the top
    assert np.array_equal(
        ranks[first > 30], first[first > 30]
    )  # the rest stay where the first stage left them


def test_an_adversarial_reranker_sinks_kept_positives_within_the_candidates():
    evalset, scorer = _evalset(np.random.default_rng(2))
    first = two_stage_ranks(scorer, evalset, None, 20)

    def worst(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return -(candidates == evalset.positives[rows][:, None]).astype(np.float64)

    ranks = two_stage_ranks(scorer, evalset, worst, 20, rows=np.arange(10, 40))
    kept = first[10:40] <= 20
    assert (ranks[kept] == 20).all() and np.array_equal(ranks[~kept], first[10:40][~kept])
