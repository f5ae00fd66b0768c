"""Relevance judgments into the data contracts: the half the Home Depot and ESCI adapters share.

An adapter turns its source into `products` plus one row per judged (query, product) pair; `build_world` derives
the contract tables from them: queries, engagements (engaged pairs, and query→query clicks between queries that
share an engaged product), and `relevance_labels`, every human label kept for the relevance model.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.atomic import atomic_path, write_text
from omnisage.data.io import write_table
from omnisage.data.scale import MANIFEST_KEY, RelevanceScale
from omnisage.data.validate import MANIFEST
from omnisage.errors import DataError
from omnisage.schema import ENGAGEMENTS, PRODUCTS, QUERIES, RELEVANCE_LABELS, TIMESTAMP, TableSpec

# Ratings carry no time; every adapter stamps its rows from this origin, in source order (see each adapter).
TS_ORIGIN = datetime(2016, 1, 1, tzinfo=UTC)
ENGAGED_ACTION = "long_click"  # an engaged judged pair counts as a long click (a training positive)
QUERY_ACTION = "click"  # a derived query→query pair counts as a related-query click
MAX_QUERIES_PER_PRODUCT = 10  # caps the quadratic number of query→query pairs one product can create

# One row per judged (query, product) pair, before the contract tables are derived.
JUDGMENTS = pa.schema(
    [
        pa.field("query_text", pa.string(), nullable=False),  # normalized
        pa.field("lang", pa.string()),
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("relevance", pa.float32(), nullable=False),  # on the 1–3 scale of the Home Depot raters
        pa.field("label", pa.string(), nullable=False),  # the source's own label, verbatim
        pa.field("engaged", pa.bool_(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
    ]
)


@dataclass
class Rejections:
    """Rows a lenient adapter skipped, each with its file, 1-based data row, column and reason."""

    lenient: bool = True
    rows: list[tuple[str, int, str, str, str]] = field(
        default_factory=list
    )  # (file, row, column, reason, value)

    def reject(self, path: str, row: int, column: str, reason: str, value: object = "") -> None:
        """Record one bad row, or raise it as a located DataError when not lenient."""
        if not self.lenient:
            raise DataError(reason, path=path, row=row, column=column or None)
        self.rows.append((path, row, column, reason, "" if value is None else str(value)[:200]))

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(reason for *_, reason, _ in self.rows).items()))

    def __len__(self) -> int:
        return len(self.rows)

    def write_csv(self, path: str | Path) -> Path:
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "row", "column", "reason", "value"])
            writer.writerows(self.rows)
        return Path(path)


@dataclass
class RelevanceSet:
    """What an adapter returns: products, judged pairs, and the rows it rejected."""

    source: str
    inputs: list[str]
    scale: RelevanceScale  # the scale of `judgments.relevance`
    products: pa.Table  # contract form (PRODUCTS columns)
    judgments: pa.Table  # JUDGMENTS
    rejections: Rejections
    notes: dict[str, int] = field(default_factory=dict)  # e.g. conflicting titles, kept first

    def engaged(self) -> pa.Table:
        return self.judgments.filter(self.judgments.column("engaged"))


def contract_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in spec.columns])


def timestamps(order: np.ndarray) -> pa.Array:
    """Synthetic, meaningless but deterministic times: one minute per unit of `order` after `TS_ORIGIN`."""
    origin_us = int(TS_ORIGIN.timestamp()) * 1_000_000
    return pa.array(origin_us + np.asarray(order, dtype=np.int64) * 60_000_000, pa.int64()).cast(TIMESTAMP)


def products_table(ids: list[str], columns: dict[str, list[str | None]]) -> pa.Table:
    """A products table in contract form: the given text columns filled, every other column null."""
    arrays = []
    for column in PRODUCTS.columns:
        values = ids if column.name == "product_id" else columns.get(column.name)
        arrays.append(
            pa.array(values, column.type) if values is not None else pa.nulls(len(ids), column.type)
        )
    return pa.Table.from_arrays(arrays, names=PRODUCTS.names)


def query_pairs(engagements: pa.Table, *, max_queries_per_entity: int = MAX_QUERIES_PER_PRODUCT) -> pa.Table:
    """Query→query clicks between the queries engaged with a same entity, both directions, deduplicated.

    An entity engaged by more than `max_queries_per_entity` queries contributes only its first ones (by time,
    then text), so one popular item cannot flood the task. A pair is stamped with the time it first became
    known: the later of its two engagements, earliest over the entities it shares. Returns rows in ENGAGEMENTS form (entity_type=query, action=click).
    """
    items = engagements.filter(pc.not_equal(engagements.column("entity_type"), "query"))
    rows = sorted(
        zip(
            items.column("entity_id").to_pylist(),
            items.column("ts").cast(pa.int64()).to_pylist(),
            items.column("query_text").to_pylist(),
        )
    )
    by_entity: dict[str, dict[str, int]] = {}
    for entity, ts, query in rows:
        queries = by_entity.setdefault(entity, {})
        if query not in queries and len(queries) < max_queries_per_entity:
            queries[query] = ts
    pairs: dict[tuple[str, str], int] = {}
    for queries in by_entity.values():
        for a, ta in queries.items():
            for b, tb in queries.items():
                if a != b:
                    key = (a, b)
                    pairs[key] = min(pairs.get(key, max(ta, tb)), max(ta, tb))
    ordered = sorted(pairs.items())
    return _engagements(
        [a for (a, _), _ in ordered],
        "query",
        [b for (_, b), _ in ordered],
        QUERY_ACTION,
        pa.array([ts for _, ts in ordered], pa.int64()).cast(TIMESTAMP),
    )


def _engagements(
    queries: list[str] | pa.Array, entity_type: str, ids: list[str] | pa.Array, action: str, ts: pa.Array
) -> pa.Table:
    n = len(queries)
    return pa.Table.from_arrays(
        [
            pa.array(queries, pa.string()),
            pa.array([entity_type] * n, pa.string()),
            pa.array(ids, pa.string()),
            pa.array([action] * n, pa.string()),
            ts,
        ],
        schema=contract_schema(ENGAGEMENTS),
    )


def product_engagements(judgments: pa.Table) -> pa.Table:
    """Engaged judged pairs as query→product long clicks (ENGAGEMENTS form)."""
    engaged = judgments.filter(judgments.column("engaged"))
    return _engagements(
        engaged.column("query_text").combine_chunks(),
        "product",
        engaged.column("product_id").combine_chunks(),
        ENGAGED_ACTION,
        engaged.column("ts").combine_chunks(),
    )


def queries_table(judgments: pa.Table) -> pa.Table:
    """Every judged query once, with the language of its first judgment; no search volume is known."""
    seen: dict[str, str | None] = {}
    for query, lang in zip(judgments.column("query_text").to_pylist(), judgments.column("lang").to_pylist()):
        seen.setdefault(query, lang)
    return pa.Table.from_arrays(
        [
            pa.array(list(seen), pa.string()),
            pa.array(list(seen.values()), pa.string()),
            pa.nulls(len(seen), pa.int64()),
        ],
        schema=contract_schema(QUERIES),
    )


def relevance_labels(judgments: pa.Table) -> pa.Table:
    """Every judged pair in the `relevance_labels` contract form (the number on the source's scale)."""
    return pa.Table.from_arrays(
        [
            judgments.column("query_text"),
            pa.array(["product"] * judgments.num_rows, pa.string()),
            judgments.column("product_id"),
            judgments.column("relevance").cast(pa.float64()),
            pa.nulls(judgments.num_rows, pa.int64()),
            judgments.column("lang"),
        ],
        schema=contract_schema(RELEVANCE_LABELS),
    )


def build_world(data: RelevanceSet, *, derive_query_pairs: bool = True) -> dict[str, pa.Table]:
    """The contract tables of a relevance set: products, queries, engagements, relevance_labels."""
    engagements = product_engagements(data.judgments)
    if derive_query_pairs:
        engagements = pa.concat_tables([engagements, query_pairs(engagements)])
    return {
        "products": data.products,
        "queries": queries_table(data.judgments),
        "engagements": engagements,
        "relevance_labels": relevance_labels(data.judgments),
    }


def write_world(data: RelevanceSet, out: str | Path, *, derive_query_pairs: bool = True) -> dict[str, int]:
    """Write the contract tables as Parquet into `out`, with `rejected_rows.csv` and an `ingest.json` summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_world(data, derive_query_pairs=derive_query_pairs)
    for name, table in tables.items():
        write_table(table, out / f"{name}.parquet")
    counts = {name: t.num_rows for name, t in tables.items()}
    write_text(out / MANIFEST, json.dumps({MANIFEST_KEY: data.scale.to_json()}) + "\n")
    data.rejections.write_csv(out / "rejected_rows.csv")
    summary = {
        "source": data.source,
        "inputs": data.inputs,
        "rows": counts,
        "rejected_rows": len(data.rejections),
        "rejected_by_reason": data.rejections.counts(),
        "notes": data.notes,
    }
    write_text(out / "ingest.json", json.dumps(summary, indent=2))
    return counts
