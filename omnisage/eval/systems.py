"""Retrieval systems under evaluation: anything that turns an `EvalSet` into a `Scorer` (SPEC §6).

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
