"""IVF-PQ, the compressed index for large catalogs (paper §5: retrieval of pins and products), backed by FAISS.

RAM holds one product-quantization code per vector (at most dim/4 bytes, 1/16 of float32) in nlist inverted
lists. A query scans its nprobe nearest lists, then re-ranks the refine·k best codes by their float16 vectors,
memory-mapped from disk: the page cache holds the rows queries touch, not the catalog.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from omnisage.atomic import make_folder, write_atomic
from omnisage.errors import OmniSageError
from omnisage.index.store import import_faiss, load_faiss, load_ids, save_faiss, save_ids, save_meta

MIN_POINTS_PER_CENTROID = 39  # FAISS's own floor: k-means with fewer training vectors per centroid warns
MIN_BITS, MAX_BITS = 4, 8  # bits per PQ sub-code: 16 to 256 centroids per sub-quantizer
MIN_ITEMS = MIN_POINTS_PER_CENTROID * 2**MIN_BITS  # 624: fewer cannot train even 4-bit codebooks
MAX_LISTS = 65_536
TRAIN_PER_LIST = 64  # training sample: 64 vectors per list, and at least 256 per PQ centroid
PQ_TRAIN = 256 * 2**MAX_BITS
VECTORS = "vectors.f16.npy"


def layout(count: int, dim: int) -> tuple[int, int, int]:
    """(nlist, PQ sub-quantizers, bits per sub-code) for `count` vectors of `dim`: nlist ≈ 4·sqrt(count), and
    every k-means (lists, PQ centroids) gets ≥ 39 training vectors per centroid; sub-quantizers span ≥ 4 dims."""
    if count < MIN_ITEMS:
        raise OmniSageError(f"IVF-PQ needs at least {MIN_ITEMS} vectors to train its codebooks, got {count}")
    nlist = min(round(4 * math.sqrt(count)), count // MIN_POINTS_PER_CENTROID, MAX_LISTS)
    bits = min(MAX_BITS, int(math.log2(count / MIN_POINTS_PER_CENTROID)))
    subquantizers = max(s for s in range(1, max(dim // 4, 1) + 1) if dim % s == 0)
    return nlist, subquantizers, bits


class IvfPqIndex:
    """A FAISS `IndexIVFPQ` (inner product) plus float16 vectors for re-ranking and the row -> entity id table."""

    kind = "ivfpq"

    def __init__(self, ids: np.ndarray, index: Any, vectors: np.ndarray, nprobe: int, refine: int):
        if index.ntotal != len(ids) or vectors.shape != (len(ids), index.d):
            raise OmniSageError(
                f"IVF-PQ index holds {index.ntotal} codes, {vectors.shape} vectors and {len(ids)} ids"
            )
        if refine < 1:
            raise OmniSageError(f"IVF-PQ refine must be >= 1, got {refine}")
        self.ids = np.asarray(ids, dtype=object)
        self.index = index
        self.vectors = vectors  # (N, D) float16; memory-mapped once loaded from disk
        self.refine = refine
        self.nprobe = nprobe

    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, nprobe: int = 16, refine: int = 10, seed: int = 0
    ) -> IvfPqIndex:
        faiss = import_faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise OmniSageError(f"index needs (N, D) vectors and N ids, got {vectors.shape} and {len(ids)}")
        nlist, subquantizers, bits = layout(*vectors.shape)
        # "np": no polysemous training. It reorders codes for Hamming pre-filtering, which search never turns
        # on, and took 7x the training time (200k x 256: 304 s -> 42 s, same recall).
        spec = f"IVF{nlist},PQ{subquantizers}x{bits}np"
        index = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        train = np.random.default_rng(seed).permutation(len(vectors))[: max(PQ_TRAIN, TRAIN_PER_LIST * nlist)]
        index.train(vectors[np.sort(train)])
        index.add(vectors)
        return cls(ids, index, vectors.astype(np.float16), nprobe, refine)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    @property
    def nprobe(self) -> int:
        return int(self.index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if value < 1:
            raise OmniSageError(f"IVF-PQ nprobe must be >= 1, got {value}")
        self.index.nprobe = min(int(value), self.nlist)  # more lists than exist scan the same lists

    def __len__(self) -> int:
        return len(self.ids)

    def resident_bytes(self) -> int:
        """What the index holds in RAM (codes, list ids, centroids, codebooks: its FAISS serialization); the
        float16 vectors are not counted, they stay on disk."""
        return int(import_faiss().serialize_index(self.index).size)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """(n,) rows -> (n, D) float32: the float16 vectors the final scores are computed with (read from disk)."""
        return np.asarray(self.vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k: (scores (Q, k) float32 descending, rows (Q, k) int64); k is capped at N. Scores
        are inner products with the float16 vectors; row -1 (score -inf) when the scanned lists ran dry."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)  # (Q, D)
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        _, candidates = self.index.search(queries, min(self.refine * k, len(self)))  # (Q, C) by PQ score
        # Each distinct row is read once, in file order.
        rows, where = np.unique(np.maximum(candidates, 0).ravel(), return_inverse=True)  # (U,), (Q·C,)
        exact = np.asarray(self.vectors[rows], dtype=np.float32)[where.reshape(candidates.shape)]  # (Q, C, D)
        scores = np.einsum("qd,qcd->qc", queries, exact)  # (Q, C)
        scores[candidates < 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (Q, k)
        return np.take_along_axis(scores, order, 1), np.take_along_axis(candidates, order, 1).astype(np.int64)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        make_folder(directory)
        save_faiss(directory / "ivfpq.faiss", self.index)
        write_atomic(directory / VECTORS, lambda fh: np.save(fh, np.asarray(self.vectors)))
        save_ids(directory, self.ids)
        pq = self.index.pq
        meta = {
            "kind": self.kind,
            "dim": self.dim,
            "count": len(self),
            "nlist": self.nlist,
            "subquantizers": int(pq.M),
            "bits": int(pq.nbits),
            "nprobe": self.nprobe,
            "refine": self.refine,
        }
        save_meta(directory, meta)

    @classmethod
    def load(cls, directory: str | Path) -> IvfPqIndex:
        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        # (N, D) float16, paged in as queries touch rows
        vectors = np.load(directory / VECTORS, mmap_mode="r")
        if vectors.dtype != np.float16:
            raise OmniSageError(f"{directory / VECTORS}: expected float16 vectors, got {vectors.dtype}")
        index = load_faiss(directory / "ivfpq.faiss")
        return cls(load_ids(directory), index, vectors, meta["nprobe"], meta["refine"])
