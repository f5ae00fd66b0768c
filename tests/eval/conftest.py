"""A toy world for the evaluation tests: a colour/object catalog whose keyword retrieval is known by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from omnisage.data.io import write_table
from omnisage.schema import ENRICHED_ENTITIES, TIMESTAMP

COLOURS = ["red", "blue", "green", "black", "white"]
OBJECTS = ["sofa", "lamp", "chair", "rug"]
LOG_END = datetime(2024, 7, 1, tzinfo=UTC)


def enriched_rows(n_pins: int = 40, n_products: int = 10, legacy_dim: int = 8) -> pa.Table:
    """Pin i is titled '<colour> <object>' (every 4th pin has no title or description, only a caption)."""
    rng = np.random.default_rng(0)
    rows = []
    for kind, n in (("pin", n_pins), ("product", n_products)):
        for i in range(n):
            colour, obj = COLOURS[i % len(COLOURS)], OBJECTS[(i // len(COLOURS)) % len(OBJECTS)]
            no_text = kind == "pin" and i % 4 == 3
            rows.append(
                {
                    "entity_type": kind,
                    "entity_id": f"{kind}{i}",
                    "lang": "en",
                    "title": None if no_text else f"{colour} {obj}",
                    "description": None,
                    "caption": f"a photo of a {colour} {obj}",
                    "brand": "acme" if kind == "product" else None,
                    "color": colour if kind == "product" else None,
                    "board_titles": [f"{colour} things"],
                    "engaged_queries": [],
                    "engaged_query_scores": [],
                    "legacy_vector": rng.normal(size=legacy_dim).astype(np.float32).tolist(),
                    "image_vector": None,
                }
            )
    return pa.Table.from_pylist(rows, schema=ENRICHED_ENTITIES)


def toy_logs(entities: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(engagements, queries): each pin/product is saved for its title query inside the eval window,
    and once long before it (a training-window pair that must never be sampled)."""
    langs = {"red sofa": "fr"}
    events = []
    for row in entities.to_pylist():
        query = " ".join(row["caption"].split()[-2:])
        kind = row["entity_type"]
        events.append((query, kind, row["entity_id"], "save", LOG_END - timedelta(days=2)))
        events.append((query, kind, row["entity_id"], "long_click", LOG_END - timedelta(days=100)))
    events.append(("red sofa", "query", "red lamp", "click", LOG_END - timedelta(days=1)))
    events.append(("blue rug", "query", "blue rug", "click", LOG_END - timedelta(days=1)))  # self-click
    events.append(("red sofa", "pin", "pin_unknown", "save", LOG_END - timedelta(days=1)))
    queries = sorted({e[0] for e in events} | {e[2] for e in events if e[1] == "query"})
    engagements = pa.table(
        {
            "query_text": [e[0] for e in events],
            "entity_type": [e[1] for e in events],
            "entity_id": [e[2] for e in events],
            "action": [e[3] for e in events],
            "ts": pa.array([e[4] for e in events], TIMESTAMP),
        }
    )
    query_table = pa.table({"query_text": queries, "lang": [langs.get(q, "en") for q in queries]})
    return engagements, query_table


@pytest.fixture
def toy_world(tmp_path: Path) -> tuple[Path, pa.Table]:
    entities = enriched_rows()
    engagements, queries = toy_logs(entities)
    write_table(engagements, tmp_path / "engagements.parquet")
    write_table(queries, tmp_path / "queries.parquet")
    return tmp_path, entities


class KeywordModel:
    """A toy fake with hand-checkable retrieval: one-hot bag of known words, L2-normalized."""

    vocab = COLOURS + OBJECTS

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), np.float32)
        for i, text in enumerate(texts):
            for w in text.split():
                if w in self.vocab:
                    out[i, self.vocab.index(w)] = 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_entities(self, rows: pa.Table) -> np.ndarray:
        return self._encode([t or "" for t in rows.column("title").to_pylist()])


@pytest.fixture
def keyword_model() -> KeywordModel:
    return KeywordModel()


@pytest.fixture
def log_end() -> datetime:
    return LOG_END
