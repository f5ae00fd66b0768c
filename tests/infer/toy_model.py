"""A toy stand-in for the model bundle in batch-inference tests: vectors derived from ids, counted calls.

Kept importable on its own (no pytest) so a subprocess can run `embed_all` with it and be killed mid-way.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from omnisage.schema import ENRICHED_ENTITIES

DIM = 8


def vector_of(text: str) -> np.ndarray:
    v = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class ToyModel:
    def __init__(self, version: str = "toy-1", delay_s: float = 0.0):
        self.version, self.delay_s, self.dim = version, delay_s, DIM
        self.entity_rows = 0
        self.query_rows = 0

    def encode_entities(self, rows: pa.Table) -> np.ndarray:
        time.sleep(self.delay_s)
        self.entity_rows += rows.num_rows
        titles = rows.column("title").to_pylist()
        return np.stack(
            [vector_of(f"{k}:{t}") for k, t in zip(rows.column("entity_type").to_pylist(), titles)]
        )

    def encode_entity_tables(self, tables: Iterable[pa.Table]) -> Iterator[np.ndarray]:
        return map(self.encode_entities, tables)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        time.sleep(self.delay_s)
        self.query_rows += len(queries)
        return np.stack([vector_of(f"query:{q}") for q in queries])


def enriched_table(n: int) -> pa.Table:
    kinds = ["pin" if i % 3 else "product" for i in range(n)]
    ids = [f"{k}{i}" for i, k in enumerate(kinds)]
    columns = {f.name: pa.nulls(n, f.type) for f in ENRICHED_ENTITIES}
    columns |= {
        "entity_type": pa.array(kinds),
        "entity_id": pa.array(ids),
        "title": pa.array([f"title {i}" for i in range(n)]),
    }
    return pa.table(columns, schema=ENRICHED_ENTITIES)
