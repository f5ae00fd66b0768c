"""HNSW approximate nearest-neighbour search (paper §5: retrieval of pins and products), backed by FAISS.

One graph per entity type over unit vectors with inner-product scores. `ef_search` trades recall for
speed at query time; `m` and `ef_construction` are fixed when the graph is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from omnisage.atomic import make_folder
from omnisage.errors import OmniSageError
from omnisage.index.store import import_faiss, load_faiss, load_ids, save_faiss, save_ids, save_meta


class HnswIndex:
    """A FAISS `IndexHNSWFlat` (inner product) plus the row -> entity id table."""

    kind = "hnsw"

    def __init__(self, ids: np.ndarray, index: Any, m: int, ef_construction: int, ef_search: int):
        if index.ntotal != len(ids):
            raise OmniSageError(f"HNSW index holds {index.ntotal} vectors but {len(ids)} ids")
        self.ids = np.asarray(ids, dtype=object)
        self.index = index
        self.m, self.ef_construction = m, ef_construction
        self.ef_search = ef_search

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> HnswIndex:
        faiss = import_faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise OmniSageError(f"index needs (N, D) vectors and N ids, got {vectors.shape} and {len(ids)}")
        index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(vectors)
        return cls(ids, index, m, ef_construction, ef_search)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ef_search(self) -> int:
        return int(self.index.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self.index.hnsw.efSearch = int(value)

    def __len__(self) -> int:
        return len(self.ids)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """(n,) rows -> (n, D) float32: the indexed vectors the scores are computed with, copied out of the
        graph's flat storage (which keeps every vector as given)."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.index.reconstruct_batch(rows).reshape(len(rows), self.dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k: (scores (Q, k) float32 descending, rows (Q, k) int64); k is capped at N."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)  # (Q, D)
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        # efSearch below k would return fewer than k neighbours.
        if self.ef_search < k:
            self.ef_search = k
        scores, rows = self.index.search(queries, k)  # (Q, k) each; row -1 when the graph ran dry
        return scores.astype(np.float32), rows.astype(np.int64)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        make_folder(directory)
        save_faiss(directory / "hnsw.faiss", self.index)
        save_ids(directory, self.ids)
        meta = {
            "kind": self.kind,
            "dim": self.dim,
            "count": len(self),
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }
        save_meta(directory, meta)

    @classmethod
    def load(cls, directory: str | Path, ef_search: int | None = None) -> HnswIndex:
        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        index = load_faiss(directory / "hnsw.faiss")
        return cls(
            load_ids(directory),
            index,
            meta["m"],
            meta["ef_construction"],
            ef_search if ef_search is not None else meta["ef_search"],
        )
