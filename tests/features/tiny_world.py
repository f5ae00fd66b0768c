"""Test worlds for the enrichment tests: a tiny hand-made one (every expected value is computed by hand in the
tests) and a random one with skew, ties and noisy titles (for equivalence tests)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.schema import ACTIONS

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def days_before(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def write_world(
    directory: Path, tables: dict[str, dict[str, list]], types: dict[str, pa.DataType] | None = None
) -> Path:
    """Write each table as Parquet; columns named `ts` are timestamps, `vector` float lists."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, columns in tables.items():
        arrays = {}
        for col, values in columns.items():
            kind = (types or {}).get(col) or (
                TS if col == "ts" else pa.list_(pa.float32()) if col == "vector" else pa.string()
            )
            arrays[col] = pa.array(values, kind)
        pq.write_table(pa.table(arrays), directory / f"{name}.parquet")
    return directory


def tiny_tables() -> dict[str, dict[str, list]]:
    e = []  # engagements: (query, entity_type, entity_id, action, days before AS_OF)
    e += [("cookies", "pin", "p1", "save", 10), ("cookies", "pin", "p1", "save", 400)]
    e += [("cookies", "pin", "p1", "long_click", 3)]
    e += [("chocolate cookies", "pin", "p1", "click", d) for d in (1, 2, 700)]
    e += [("easy dessert", "pin", "p1", "save", 800)]  # before the two-year window
    e += [("cookies", "pin", "p2", "click", 5)]
    e += [("red kettle", "product", "d1", "add_to_cart", 20), ("red kettle", "product", "d1", "checkout", 19)]
    e += [("cookies", "query", "chocolate cookies", "click", 4)]  # a related-query click: not an item feature
    e += [
        ("leaky query", "pin", "p1", "save", -0.5),
        ("leaky query", "product", "d2", "checkout", -3),
    ]  # after
    queries = sorted({q for q, *_ in e} | {"chocolate cookies"})
    return {
        "pins": {
            "pin_id": ["p1", "p2", "p3", "p4"],
            "title": ["Chocolate chip cookies", None, "Lemon tart", "   "],
            "description": ["Soft and chewy", None, None, None],
            "caption": ["a plate of cookies", "a cup of coffee", None, ""],
            "image_ref": [None, None, "img/p3.png", None],
            "lang": ["en", "en", "en", None],
        },
        "products": {
            "product_id": ["d1", "d2"],
            "title": ["Red kettle 1.7l", "Oak table"],
            "description": [None, "Solid oak"],
            "brand": ["Acme", None],
            "color": ["red", "brown"],
            "caption": ["a red kettle", None],
            "lang": ["en", "en"],
        },
        "queries": {"query_text": queries},
        "boards": {
            "board_id": [f"b{i}" for i in range(1, 9)],
            "title": [
                "Christmas Cookies",
                "christmas  cookies",
                "Cookies",
                "My stuff",
                None,
                " \x00 ",
                "Desserts 🍪",
                "Future board",
            ],
            "owner": ["u1"] * 8,
        },
        "board_saves": {
            "board_id": ["b1", "b2", "b3", "b4", "b5", "b7", "b3", "b6", "b8"],
            "pin_id": ["p1", "p1", "p1", "p1", "p1", "p1", "p2", "p2", "p3"],
            "ts": [days_before(d) for d in (30, 20, 10, 5, 5, 1, 2, 2, -1)],
        },
        "engagements": {
            "query_text": [r[0] for r in e],
            "entity_type": [r[1] for r in e],
            "entity_id": [r[2] for r in e],
            "action": [r[3] for r in e],
            "ts": [days_before(r[4]) for r in e],
        },
        "legacy_embeddings": {
            "entity_type": ["pin", "product"],
            "entity_id": ["p1", "d1"],
            "vector": [[1, 0, 0, 0], [0, 1, 0, 0]],
        },
        "image_embeddings": {
            "entity_type": ["pin", "pin"],
            "entity_id": ["p1", "p2"],
            "vector": [[0.5, 0.5, 0], [0, 0, 1]],
        },
    }


def random_tables(
    seed: int, pins: int = 80, products: int = 30, boards: int = 60, logs: int = 3000
) -> dict[str, dict[str, list]]:
    """A random world with skewed popularity, repeated and noisy board titles, and logs around AS_OF."""
    rng = random.Random(seed)
    words = [
        "oak",
        "pine",
        "table",
        "kitchen",
        "ideas",
        "my",
        "the",
        "red",
        "sofa",
        "garden",
        "cookies",
        "Tarte",
        "été",
    ]
    pin_ids = [f"p{i}" for i in range(pins)]
    product_ids = [f"d{i}" for i in range(products)]
    queries = [" ".join(rng.choices(words, k=rng.randint(1, 3))) for _ in range(150)]
    queries = sorted(set(queries))
    titles = [" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(boards // 2)] + [
        None,
        "  ",
        "My stuff",
    ]
    board_ids = [f"b{i}" for i in range(boards)]
    saves = sorted(
        {
            (rng.choice(board_ids), pin_ids[min(int(rng.paretovariate(1.2)) - 1, pins - 1)])
            for _ in range(boards * 8)
        }
    )
    e: dict[str, list] = {"query_text": [], "entity_type": [], "entity_id": [], "action": [], "ts": []}
    for _ in range(logs):
        kind = rng.choices(["pin", "product", "query"], [6, 3, 1])[0]
        ids = {"pin": pin_ids, "product": product_ids, "query": queries}[kind]
        e["query_text"].append(queries[min(int(rng.paretovariate(0.8)) - 1, len(queries) - 1)])
        e["entity_type"].append(kind)
        e["entity_id"].append(ids[min(int(rng.paretovariate(1.0)) - 1, len(ids) - 1)])
        e["action"].append(
            rng.choice({"pin": ["save", "long_click", "click"], "query": ["click"]}.get(kind, ACTIONS))
        )
        e["ts"].append(AS_OF - timedelta(seconds=rng.randint(-30 * 86400, 800 * 86400)))
    return {
        "pins": {"pin_id": pin_ids, "title": [rng.choice([None, *queries]) for _ in pin_ids]},
        "products": {
            "product_id": product_ids,
            "title": [rng.choice(queries) for _ in product_ids],
            "brand": ["Acme"] * products,
        },
        "queries": {"query_text": queries},
        "boards": {"board_id": board_ids, "title": [rng.choice(titles) for _ in board_ids]},
        "board_saves": {
            "board_id": [b for b, _ in saves],
            "pin_id": [p for _, p in saves],
            "ts": [AS_OF - timedelta(days=rng.uniform(-20, 400)) for _ in saves],
        },
        "engagements": e,
    }
