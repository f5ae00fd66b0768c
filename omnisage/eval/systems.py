"""Retrieval systems under evaluation: anything that turns an `EvalSet` into a `Scorer`.

An embedding system encodes the pairs' queries and the set's entities into vectors and scores by dot
product. The trained model, its compatibility towers (query prefix vs legacy vectors), SearchSage and the
zero-shot encoder are all embedding systems; BM25 (`baselines.py`) scores text directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from omnisage.eval.metrics import DenseScorer, Scorer
from omnisage.eval.protocol import EvalSet

QueryEncoder = Callable[[list[str]], np.ndarray]  # texts -> (n, D) float32
EntityEncoder = Callable[[pa.Table], np.ndarray]  # enriched entity rows -> (n, D) float32


class System(Protocol):
    name: str

    def scorer(self, evalset: EvalSet) -> Scorer: ...


def _batched(encode: Callable[[Any], np.ndarray], items: Any, n: int, batch: int, what: str) -> np.ndarray:
    from omnisage.progress import tqdm

    parts = [
        np.asarray(encode(items[lo : lo + batch]), dtype=np.float32)
        for lo in tqdm(range(0, n, batch), desc=what, unit="batch", leave=False, disable=n <= batch)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


@dataclass
class EmbeddingSystem:
    """Queries and entities as vectors; query→query encodes both sides with `encode_queries`."""

    name: str
    encode_queries: QueryEncoder
    encode_entities: EntityEncoder | None  # None: the system has no pin/product side
    batch_size: int = 1024

    def query_vectors(self, evalset: EvalSet) -> np.ndarray:
        """(N, D): one row per pair; each distinct query is encoded once."""
        texts, inverse = np.unique(np.asarray(evalset.queries, dtype=object), return_inverse=True)
        vectors = _batched(self.encode_queries, list(texts), len(texts), self.batch_size, "queries")
        return vectors[inverse]

    def entity_vectors(self, evalset: EvalSet) -> np.ndarray:
        """(U, D): one row per entity of the set's universe."""
        if evalset.task == "query":
            ids = list(evalset.entity_ids)
            return _batched(self.encode_queries, ids, len(ids), self.batch_size, "query entities")
        if self.encode_entities is None or evalset.entities is None:
            raise ValueError(f"system '{self.name}' cannot encode {evalset.task}s")
        return _batched(
            self.encode_entities,
            evalset.entities,
            evalset.entities.num_rows,
            self.batch_size,
            f"{evalset.task}s",
        )

    def scorer(self, evalset: EvalSet) -> Scorer:
        return DenseScorer(self.query_vectors(evalset), self.entity_vectors(evalset))

    def supports(self, task: str) -> bool:
        return task == "query" or self.encode_entities is not None


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1)
    return x / np.where(norms > 0, norms, 1.0)


def legacy_vectors(rows: pa.Table, dim: int) -> np.ndarray:
    """(n, L) legacy embeddings of enriched rows, unit-normalized; zeros where an entity has none."""
    col = rows.column("legacy_vector").combine_chunks()
    out = np.zeros((rows.num_rows, dim), np.float32)
    valid = np.asarray(col.is_valid())
    if valid.any():
        flat = np.asarray(col.filter(pa.array(valid)).flatten(), dtype=np.float32)
        out[valid] = flat.reshape(int(valid.sum()), -1)[:, :dim]
    return unit_rows(out)


def model_system(model: Any, name: str = "omnisage", batch_size: int = 1024) -> EmbeddingSystem:
    """The trained model's learned towers: `encode_queries` vs `encode_entities`."""
    return EmbeddingSystem(name, model.encode_queries, model.encode_entities, batch_size)


def compatibility_system(
    model: Any, legacy_dim: int, name: str = "omnisage-compat", batch_size: int = 1024
) -> EmbeddingSystem:
    """The compatibility towers: the query embedding's first L dims (renormalized) vs the fixed legacy
    vectors; query→query compares the prefixes on both sides."""

    def queries(texts: list[str]) -> np.ndarray:
        return unit_rows(np.asarray(model.encode_queries(texts))[:, :legacy_dim])

    return EmbeddingSystem(name, queries, lambda rows: legacy_vectors(rows, legacy_dim), batch_size)


class FusedScorer:
    """z(a) + weight · z(b): each scorer's scores standardized per query over the evaluation corpus (its mean
    and standard deviation, computed once in chunks), so scales as different as cosine and BM25 can be added."""

    def __init__(self, a: Scorer, b: Scorer, weight: float, corpus: np.ndarray, n_rows: int):
        self.a, self.b, self.weight = a, b, weight
        self.row_cost = a.row_cost + b.row_cost
        self.moments = [_moments(s, np.asarray(corpus, np.int64), n_rows) for s in (a, b)]

    def scores(self, queries: np.ndarray, entities: np.ndarray) -> np.ndarray:
        out = np.zeros((len(queries), len(entities)), np.float32)  # (n, m)
        for scorer, (mean, std), weight in zip((self.a, self.b), self.moments, (1.0, self.weight)):
            z = (scorer.scores(queries, entities) - mean[queries, None]) / std[queries, None]
            out += (weight * z).astype(np.float32)
        return out


def _moments(
    scorer: Scorer, corpus: np.ndarray, n_rows: int, rows_per_block: int = 256, chunk: int = 16384
) -> tuple[np.ndarray, np.ndarray]:
    """Per query row, the mean and standard deviation (> 0) of its scores over `corpus`."""
    total, squares = np.zeros(n_rows), np.zeros(n_rows)
    for lo in range(0, n_rows, rows_per_block):
        rows = np.arange(lo, min(lo + rows_per_block, n_rows))
        for start in range(0, len(corpus), chunk):
            s = scorer.scores(rows, corpus[start : start + chunk]).astype(np.float64)  # (n, m)
            total[rows] += s.sum(axis=1)
            squares[rows] += (s * s).sum(axis=1)
    mean = total / max(len(corpus), 1)
    std = np.sqrt(np.maximum(squares / max(len(corpus), 1) - mean * mean, 0.0))
    return mean, np.where(std > 1e-9, std, 1.0)


@dataclass
class HybridSystem:
    """A dense system fused with a lexical one (`FusedScorer`): what production search often serves, and a
    measure of how much term matching the embeddings still miss."""

    name: str
    dense: System
    lexical: System
    weight: float

    def scorer(self, evalset: EvalSet) -> Scorer:
        n_rows = len(evalset.positives)
        return FusedScorer(
            self.dense.scorer(evalset), self.lexical.scorer(evalset), self.weight, evalset.corpus, n_rows
        )

    def supports(self, task: str) -> bool:
        return all(getattr(s, "supports", lambda _: True)(task) for s in (self.dense, self.lexical))
