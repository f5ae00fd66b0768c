"""HNSW index: recall@10 against the exact index on clustered unit vectors of demo-world size; persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnisage.config import IndexConfig
from omnisage.index.catalog import measure_recall, recall_at_k, tune_search_width, unit_rows
from omnisage.index.hnsw import HnswIndex


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around a few topics, like trained embeddings (uniform noise would be the easy case)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    return unit_rows(centers[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim)))


def test_recall_at_k_by_hand() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    approx = np.array([[4, 3, 9, 1], [5, 6, 7, 8]])
    assert recall_at_k(approx, exact) == (3 / 4 + 1) / 2


@pytest.mark.slow
def test_hnsw_recall_vs_exact_on_demo_sized_corpus() -> None:
    vectors = clustered(6000, 128, 60, seed=0)
    probes = clustered(500, 128, 60, seed=1)
    ids = np.array([f"pin{i}" for i in range(len(vectors))])
    index = HnswIndex.build(ids, vectors, m=32, ef_construction=200, ef_search=128)
    assert measure_recall(index, vectors, probes, 10) >= 0.95


def test_save_load_keeps_results(tmp_path: Path) -> None:
    vectors = clustered(800, 32, 8, seed=2)
    index = HnswIndex.build(np.array([f"q{i}" for i in range(800)]), vectors, m=16, ef_search=64)
    index.save(tmp_path / "hnsw")
    again = HnswIndex.load(tmp_path / "hnsw")
    assert (again.m, again.ef_search, len(again)) == (16, 64, 800)
    probes = clustered(20, 32, 8, seed=3)
    np.testing.assert_array_equal(again.search(probes, 10)[1], index.search(probes, 10)[1])
    assert again.ids[again.search(vectors[:1], 1)[1][0, 0]] == "q0"


def test_k_larger_than_corpus() -> None:
    vectors = clustered(5, 8, 2, seed=4)
    scores, rows = HnswIndex.build(np.array(list("abcde")), vectors).search(vectors[:2], 50)
    assert rows.shape == (2, 5) and sorted(rows[0].tolist()) == [0, 1, 2, 3, 4]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_tuning_never_narrows_a_beam_already_past_the_cap() -> None:
    vectors = clustered(200, 8, 4, seed=5)
    index = HnswIndex.build(np.arange(200).astype(str), vectors, m=4, ef_search=64)
    tune_search_width(index, vectors, vectors[:5], IndexConfig(max_ef_search=16, target_recall=1.1), 0.0)
    assert index.ef_search == 64
