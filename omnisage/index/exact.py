"""Exact inner-product search by one matrix product: the reference every approximate index is measured against.

Vectors are unit-norm, so inner product is cosine similarity. Ties break by row order, which
makes the result deterministic and easy to check against a brute-force loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnisage.atomic import make_folder, write_atomic
from omnisage.errors import OmniSageError
from omnisage.index.store import load_ids, save_ids, save_meta

SCORES_PER_BLOCK = 1 << 24  # scores `search` holds at once: 64 MB, plus 128 MB of argpartition


class ExactIndex:
    """All vectors in one float32 matrix; `search` scores every row."""

    kind = "exact"

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise OmniSageError(f"index needs (N, D) vectors and N ids, got {vectors.shape} and {len(ids)}")
        self.ids = np.asarray(ids, dtype=object)
        self.vectors = vectors  # (N, D)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """(n,) rows -> (n, D) float32: the indexed vectors the scores are computed with."""
        return self.vectors[rows]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query: (scores (Q, k) float32 descending, rows (Q, k) int64); k is capped at N.
        Queries go in blocks of at most SCORES_PER_BLOCK scores, so memory stays flat in Q (1,000 probes against
        a million vectors would otherwise hold a 4 GB score matrix and an 8 GB argpartition)."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)  # (Q, D)
        k = min(k, len(self))
        step = max(1, SCORES_PER_BLOCK // max(1, len(self)))
        blocks = [self._search_block(queries[i : i + step], k) for i in range(0, len(queries), step)]
        if not blocks:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])

    def _search_block(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self.vectors.T  # (Q, N)
        if k < len(self):
            # argpartition picks the k best in O(N); a stable sort on (-score, row) then orders them.
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (Q, k), unordered
            # Rows tied with the k-th score may sit outside the partition; widen to every tied row.
            kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)  # (Q, 1)
            rows = [np.flatnonzero(s >= t) for s, t in zip(scores, kth[:, 0])]
            top = [r[np.lexsort((r, -s[r]))][:k] for r, s in zip(rows, scores)]
            rows_k = np.stack(top) if top else np.zeros((0, k), dtype=np.int64)
        else:
            rows_k = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (Q, k)
        return np.take_along_axis(scores, rows_k, axis=1), rows_k.astype(np.int64)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        make_folder(directory)
        write_atomic(directory / "vectors.npy", lambda fh: np.save(fh, self.vectors))
        save_ids(directory, self.ids)
        meta = {"kind": self.kind, "dim": self.dim, "count": len(self)}
        save_meta(directory, meta)

    @classmethod
    def load(cls, directory: str | Path) -> ExactIndex:
        directory = Path(directory)
        return cls(load_ids(directory), np.load(directory / "vectors.npy"))
