"""Exact index: checked against a brute-force Python loop, ties included, and a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnisage.index import exact
from omnisage.index.exact import ExactIndex


def _brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scored = [(-float(np.dot(v, query)), row) for row, v in enumerate(vectors)]
    return [row for _, row in sorted(scored)[:k]]


def test_exact_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(25, 16)).astype(np.float32)
    index = ExactIndex(np.array([f"p{i}" for i in range(300)]), vectors)
    scores, rows = index.search(queries, 10)
    assert rows.shape == (25, 10)
    for q, got, got_scores in zip(queries, rows, scores):
        want = _brute_force(vectors, q, 10)
        assert got.tolist() == want
        np.testing.assert_allclose(got_scores, vectors[want] @ q, rtol=1e-5)


def test_blocks_of_queries_give_the_one_block_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    index = ExactIndex(np.arange(300).astype(str), rng.normal(size=(300, 16)).astype(np.float32))
    queries = rng.normal(size=(25, 16)).astype(np.float32)
    whole = index.search(queries, 10)
    monkeypatch.setattr(exact, "SCORES_PER_BLOCK", 7 * 300)  # 7 queries a block: 4 blocks, the last short
    blocks = index.search(queries, 10)
    assert np.array_equal(whole[1], blocks[1]) and np.array_equal(whole[0], blocks[0])
    assert index.search(queries[:0], 10)[1].shape == (0, 10)


def test_ties_break_by_row_and_k_is_capped() -> None:
    # Rows 1, 2, 4 and 5 score the same; the lower rows win the last places.
    vectors = np.array([[0, 1], [1, 0], [1, 0], [0.5, 0], [1, 0], [1, 0]], dtype=np.float32)
    index = ExactIndex(np.array(list("abcdef")), vectors)
    _, rows = index.search(np.array([[1.0, 0.0]]), 3)
    assert rows.tolist() == [[1, 2, 4]]
    _, rows = index.search(np.array([[1.0, 0.0]]), 50)
    assert rows.tolist() == [[1, 2, 4, 5, 3, 0]]


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    index = ExactIndex(np.array(["x", "y", "z"]), rng.normal(size=(3, 4)))
    index.save(tmp_path / "exact")
    again = ExactIndex.load(tmp_path / "exact")
    assert again.ids.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(again.vectors, index.vectors)
