"""IVF-PQ index: sizes by hand, recall@10 against the exact index after nprobe tuning, bytes per vector against
float32, exhaustive settings against exact search (the oracle), persistence, serving through an IndexSet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnisage.config import IndexConfig, load_config
from omnisage.errors import OmniSageError
from omnisage.index.catalog import IndexSet, measure_recall, tune_search_width
from omnisage.index.exact import ExactIndex
from omnisage.index.ivfpq import MIN_ITEMS, IvfPqIndex, layout

from .test_hnsw import clustered

DIM = 64


@pytest.fixture(scope="module")
def pins() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4,000 clustered unit pins (D=64), their ids, and 300 probe queries from the same topics."""
    vectors = clustered(4000, DIM, 40, seed=0)
    return np.array([f"pin{i}" for i in range(len(vectors))]), vectors, clustered(300, DIM, 40, seed=1)


def test_layout_by_hand() -> None:
    # nlist = min(4·sqrt(n), n // 39, 65,536); 2^bits PQ centroids with n / 39 vectors each; dim/4 sub-quantizers.
    assert layout(4000, 64) == (102, 16, 6)  # 4·sqrt(4000) = 253 > 4000 // 39 = 102; log2(4000 / 39) = 6.68
    assert layout(1_000_000, 256) == (4000, 64, 8)
    assert layout(10**9, 256) == (65_536, 64, 8)
    assert layout(MIN_ITEMS, 10) == (16, 2, 4)  # 10 dims: the largest divisor of 10 that is <= 10 // 4
    for count, dim in ((MIN_ITEMS, 8), (4000, 64), (10**9, 256), (5000, 7)):
        _, subquantizers, bits = layout(count, dim)
        assert subquantizers * bits / 8 <= 4 * dim / 16  # codes are at most 1/16 of float32


def test_nprobe_is_tuned_to_the_target_recall(pins: tuple) -> None:
    ids, vectors, probes = pins
    index = IvfPqIndex.build(ids, vectors, nprobe=1)
    start = measure_recall(index, vectors, probes, 10)
    assert start < 0.95  # one list of 102 is not enough: the tuning has work to do
    recall = tune_search_width(index, vectors, probes, IndexConfig(nprobe=1, target_recall=0.95), start)
    assert recall >= 0.95 and recall == measure_recall(index, vectors, probes, 10)
    assert 1 < index.nprobe < index.nlist


def test_capped_tuning_stops_at_the_cap_or_at_every_list(pins: tuple) -> None:
    ids, vectors, probes = pins
    index = IvfPqIndex.build(ids, vectors, nprobe=1)
    capped = IndexConfig(nprobe=1, max_nprobe=6, target_recall=1.1)
    tune_search_width(index, vectors, probes, capped, 0.0)
    assert index.nprobe == 6
    uncapped = IndexConfig(nprobe=1, max_nprobe=100_000, target_recall=1.1)
    tune_search_width(index, vectors, probes, uncapped, 0.0)
    assert index.nprobe == index.nlist == 102  # ends: more lists than exist scan the same lists


def test_ram_per_vector_is_at_most_a_quarter_of_float32(pins: tuple, tmp_path: Path) -> None:
    ids, vectors, _ = pins
    index = IvfPqIndex.build(ids, vectors)
    flat = vectors.astype(np.float32).nbytes
    assert index.resident_bytes() <= flat / 4  # codes + list ids + centroids + codebooks
    index.save(tmp_path / "ivfpq")
    again = IvfPqIndex.load(tmp_path / "ivfpq")
    assert isinstance(again.vectors, np.memmap) and again.vectors.dtype == np.float16  # on disk, not in RAM


def test_exhaustive_settings_are_exact_search() -> None:
    # Every list scanned and every vector re-ranked: the top-k is exact search over the float16 vectors.
    vectors = clustered(700, 16, 8, seed=5)
    probes = clustered(50, 16, 8, seed=6)
    index = IvfPqIndex.build(np.arange(700).astype(str), vectors, nprobe=10_000, refine=70)
    scores, rows = index.search(probes, 10)
    rounded = vectors.astype(np.float16).astype(np.float32)  # (N, D)
    want_scores, want_rows = ExactIndex(index.ids, rounded).search(probes, 10)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


def test_save_load_keeps_results_and_settings(pins: tuple, tmp_path: Path) -> None:
    ids, vectors, probes = pins
    index = IvfPqIndex.build(ids, vectors, nprobe=8, refine=4)
    index.save(tmp_path / "ivfpq")
    again = IvfPqIndex.load(tmp_path / "ivfpq")
    assert (again.nprobe, again.refine, again.nlist, len(again), again.dim) == (8, 4, 102, 4000, DIM)
    for got, want in zip(again.search(probes, 10), index.search(probes, 10)):
        np.testing.assert_array_equal(got, want)
    assert again.ids[again.search(vectors[:1], 1)[1][0, 0]] == "pin0"


def test_rows_run_dry_as_minus_one() -> None:
    vectors = clustered(700, 8, 4, seed=7)
    index = IvfPqIndex.build(np.arange(700).astype(str), vectors, nprobe=1)
    scores, rows = index.search(vectors[:3], 700)  # k = N, but one list holds far fewer
    assert rows.shape == (3, 700) and (rows == -1).any() and (rows[:, 0] >= 0).all()
    for score, row in zip(scores, rows):
        found = row[row >= 0]
        assert len(set(found.tolist())) == len(found) and np.all(row[len(found) :] == -1)
        assert np.all(np.diff(score[: len(found)]) <= 0) and np.all(np.isneginf(score[len(found) :]))


def test_an_index_set_serves_it(pins: tuple, tmp_path: Path) -> None:
    ids, vectors, probes = pins
    index = IvfPqIndex.build(ids, vectors, nprobe=16)
    IndexSet("v1", DIM, {"pin": index}).save(tmp_path / "set")
    loaded = IndexSet.load(tmp_path / "set", ef_search=999)  # the HNSW override leaves IVF-PQ alone
    assert loaded.indexes["pin"].kind == "ivfpq" and loaded.indexes["pin"].nprobe == 16
    got = loaded.search("pin", probes[:5], 10)
    scores, rows = index.search(probes[:5], 10)
    assert [[i for i, _ in hits] for hits in got] == [[ids[r] for r in row] for row in rows]
    np.testing.assert_allclose([[s for _, s in hits] for hits in got], scores)


BAD = {
    "too few vectors": (
        lambda v: IvfPqIndex.build(np.arange(100).astype(str), v[:100]),
        "at least 624 vectors",
    ),
    "ids and vectors differ": (lambda v: IvfPqIndex.build(np.arange(10).astype(str), v), "and N ids"),
    "refine 0": (
        lambda v: IvfPqIndex.build(np.arange(len(v)).astype(str), v, refine=0),
        "refine must be >= 1",
    ),
    "nprobe 0": (
        lambda v: IvfPqIndex.build(np.arange(len(v)).astype(str), v, nprobe=0),
        "nprobe must be >= 1",
    ),
    "config nprobe 0": (lambda v: load_config(None, ["index.nprobe=0"]), "index.nprobe must be >= 1, got 0"),
    "config refine -1": (
        lambda v: load_config(None, ["index.refine=-1"]),
        "index.refine must be >= 1, got -1",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_parameters_are_one_line_errors(case: str) -> None:
    make, message = BAD[case]
    with pytest.raises(OmniSageError) as error:
        make(clustered(MIN_ITEMS, 8, 4, seed=8))
    assert message in str(error.value) and "\n" not in str(error.value)
