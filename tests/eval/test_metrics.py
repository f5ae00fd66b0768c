"""Recall@k ranking: a hand-computed case, chunked == unchunked (oracle), prefix sizes, bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pytest

from omnisage.eval.metrics import (
    DenseScorer,
    bootstrap_means,
    positive_ranks,
    recall_at_k,
    recall_with_ci,
)


def _plain_ranks(q: np.ndarray, e: np.ndarray, positives: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """The definition, written the slow obvious way: one pair at a time, the full corpus at once."""
    out = []
    for i, p in enumerate(positives):
        others = corpus[corpus != p]
        out.append(1 + int(np.sum(e[others] @ q[i] >= e[p] @ q[i])))
    return np.array(out)


def test_hand_computed_case() -> None:
    # 1-d embeddings make the scores readable: score = query * entity.
    entities = np.array([[0.9], [0.5], [0.5], [0.1], [-1.0]], dtype=np.float32)
    queries = np.array([[1.0], [1.0], [-1.0]], dtype=np.float32)
    positives = np.array([1, 3, 3])
    corpus = np.array([0, 1, 2, 4])
    ranks = positive_ranks(DenseScorer(queries, entities), positives, corpus)[:, 0]
    # pair 0: positive 0.5; corpus minus itself = {0.9, 0.5 (a tie counts against), -1.0} -> rank 3
    # pair 1: positive 0.1; 0.9, 0.5, 0.5 beat it -> rank 4
    # pair 2: query -1 flips the order: positive -0.1; only entity 4 (+1.0) beats it -> rank 2
    assert ranks.tolist() == [3, 4, 2]
    assert recall_at_k(ranks, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, k=3) == pytest.approx(2 / 3)


@pytest.mark.parametrize("chunk,block", [(1, 1), (7, 50), (64, 1 << 12), (10_000, 1 << 24)])
def test_chunked_equals_unchunked(chunk: int, block: int) -> None:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=(40, 16)).astype(np.float32)
    positives = rng.integers(0, 500, size=40)
    corpus = rng.permutation(500)[:300]
    corpus[:5] = positives[:5]  # some positives sit in the corpus and must be skipped
    expected = _plain_ranks(q, e, positives, corpus)
    got = positive_ranks(DenseScorer(q, e), positives, corpus, corpus_chunk=chunk, block_elements=block)
    assert got[:, 0].tolist() == expected.tolist()


def test_prefix_sizes_equal_separate_runs() -> None:
    rng = np.random.default_rng(1)
    e = rng.normal(size=(300, 8)).astype(np.float32)
    q = rng.normal(size=(25, 8)).astype(np.float32)
    positives = rng.integers(0, 300, size=25)
    corpus = rng.permutation(300)
    scorer = DenseScorer(q, e)
    got = positive_ranks(scorer, positives, corpus, sizes=[10, 100, 300, 1000], corpus_chunk=64)
    assert got.shape == (25, 3)  # 1000 clips to 300 and merges with it
    for col, size in enumerate([10, 100, 300]):
        alone = positive_ranks(scorer, positives, corpus[:size])[:, 0]
        assert got[:, col].tolist() == alone.tolist()


def test_identical_twin_of_the_positive_counts_as_a_tie() -> None:
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    assert positive_ranks(DenseScorer(q, e), np.array([0]), np.array([0, 1, 2]))[0, 0] == 2


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(2)
    small = rng.integers(1, 30, size=100)
    large = rng.integers(1, 30, size=10_000)
    r, lo, hi = recall_with_ci(small, k=10, n_boot=500, seed=0)
    assert lo <= r <= hi
    _, lo2, hi2 = recall_with_ci(large, k=10, n_boot=500, seed=0)
    assert hi2 - lo2 < (hi - lo) / 4
    # A 0/1 mean's bootstrap is Binomial(N, p)/N: compare the spread with its closed form.
    hits = (large <= 10).astype(float)
    sd = bootstrap_means(hits, n_boot=2000, seed=3).std()
    p = hits.mean()
    assert sd == pytest.approx(np.sqrt(p * (1 - p) / len(hits)), rel=0.1)


def test_paired_bootstrap_shares_resamples() -> None:
    values = np.stack([np.arange(50.0), np.arange(50.0) + 1], axis=1)  # column 1 = column 0 + 1
    means = bootstrap_means(values, n_boot=200, seed=0)
    assert np.allclose(means[:, 1] - means[:, 0], 1.0)


def test_fused_scores_are_per_query_z_scores_over_the_corpus() -> None:
    from omnisage.eval.systems import FusedScorer

    rng = np.random.default_rng(4)
    a = DenseScorer(rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32))
    b = DenseScorer(
        rng.normal(size=(5, 3)).astype(np.float32), 50 * rng.normal(size=(40, 3)).astype(np.float32)
    )
    corpus = np.arange(30)
    fused = FusedScorer(a, b, 0.5, corpus, n_rows=5)
    rows, ents = np.arange(5), np.arange(40)
    sa, sb = a.scores(rows, ents), b.scores(rows, ents)

    def z(s: np.ndarray) -> np.ndarray:
        c = s[:, corpus].astype(np.float64)
        return (s - c.mean(1, keepdims=True)) / c.std(1, keepdims=True)

    np.testing.assert_allclose(fused.scores(rows, ents), z(sa) + 0.5 * z(sb), rtol=1e-4, atol=1e-4)
    # Weight 0 standardizes each query's scores by a positive affine map: every rank is the dense one.
    positives = np.array([30, 31, 32, 33, 34])
    alone = positive_ranks(a, positives, corpus)
    assert np.array_equal(positive_ranks(FusedScorer(a, b, 0.0, corpus, 5), positives, corpus), alone)
    # A large lexical weight ranks as the lexical scorer alone (its scale, 50x, no longer matters).
    heavy = positive_ranks(FusedScorer(a, b, 1e4, corpus, 5), positives, corpus)
    assert np.array_equal(heavy, positive_ranks(b, positives, corpus))
