"""The catalog training looks entities up in: enriched pin/product rows and queries, by integer id.

Training reads the enriched entity table of `omnisage enrich`. A data directory without one still trains:
`entities_from_raw` builds the same columns from the raw tables (no board titles, no engaged queries).
Integer ids are positions: `Catalog.ids[entity_type][i]` is entity i, `Catalog.queries[i]` is query i.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.data.io import find_table
from omnisage.data.validate import World
from omnisage.errors import DataError
from omnisage.schema import ENRICHED_ENTITIES, ITEM_TYPES

ENRICHED_NAME = "enriched_entities"


def _vectors_for(ids: pa.Array, kind: str, table: pa.Table | None) -> pa.Array:
    """The vector of each id of one entity type from an embedding table (null where absent)."""
    if table is None:
        return pa.nulls(len(ids), pa.list_(pa.float32()))
    subset = table.filter(pc.equal(table.column("entity_type"), kind))
    index = pc.index_in(ids, value_set=subset.column("entity_id").combine_chunks())  # (N,) null if absent
    return subset.column("vector").combine_chunks().cast(pa.list_(pa.float32())).take(index)


def entities_from_raw(world: World) -> pa.Table:
    """The enriched entity table's columns from the raw pins/products tables, without log-derived features."""
    parts = []
    for kind, name, key in (("pin", "pins", "pin_id"), ("product", "products", "product_id")):
        table = world.get(name)
        if table is None or table.num_rows == 0:
            continue
        ids = table.column(key).combine_chunks()
        n = table.num_rows

        def text(column: str, t: pa.Table = table, n: int = n) -> pa.Array:
            return t.column(column).combine_chunks() if column in t.column_names else pa.nulls(n, pa.string())

        empty_list = pa.array([[]] * n, pa.list_(pa.string()))
        columns = {
            "entity_type": pa.array([kind] * n, pa.string()),
            "entity_id": ids,
            "lang": text("lang"),
            "title": text("title"),
            "description": text("description"),
            "caption": text("caption"),
            "brand": text("brand"),
            "color": text("color"),
            "board_titles": empty_list,
            "engaged_queries": empty_list,
            "engaged_query_scores": pa.array([[]] * n, pa.list_(pa.float32())),
            "legacy_vector": _vectors_for(ids, kind, world.get("legacy_embeddings")),
            "image_vector": _vectors_for(ids, kind, world.get("image_embeddings")),
        }
        parts.append(pa.table(columns, schema=ENRICHED_ENTITIES))
    if not parts:
        raise DataError("no pins or products to train on", path=str(world.directory))
    return pa.concat_tables(parts)


def read_enriched(path: str | Path) -> pa.Table:
    """Read an enriched entity table (one Parquet file or a folder of parts) and check its key columns."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet table ({exc})", path=str(path)) from None
    missing = [
        f.name
        for f in ENRICHED_ENTITIES
        if f.name not in table.column_names and f.name in ("entity_type", "entity_id")
    ]
    if missing:
        raise DataError(f"not an enriched entity table (missing {missing})", path=str(path))
    return table


def find_enriched(directory: str | Path) -> Path | None:
    return find_table(directory, ENRICHED_NAME)


@dataclass
class Catalog:
    """Entities and queries by integer id, with what the loss needs beyond features (legacy vectors)."""

    entities: pa.Table  # enriched rows (features are computed from these, in this order)
    queries: np.ndarray  # (Q,) object: query text of query id i
    ids: dict[str, np.ndarray] = field(default_factory=dict)  # entity type -> (N,) entity_id strings
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # entity type -> (N,) row in `entities`
    legacy: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # entity type -> (N, L) float32, zeros if none
    has_legacy: dict[str, np.ndarray] = field(default_factory=dict)  # entity type -> (N,) bool

    @classmethod
    def build(cls, entities: pa.Table, queries: list[str] | np.ndarray, legacy_dim: int) -> Catalog:
        kinds = np.asarray(entities.column("entity_type").to_pylist(), dtype=object)
        all_ids = np.asarray(entities.column("entity_id").to_pylist(), dtype=object)
        catalog = cls(entities, np.asarray(sorted(set(queries)), dtype=object))
        vectors = entities.column("legacy_vector").combine_chunks().cast(pa.list_(pa.float32()))
        present = vectors.is_valid().to_numpy(zero_copy_only=False)  # (R,)
        lengths = pc.fill_null(pc.list_value_length(vectors), legacy_dim).to_numpy()
        if np.any(lengths != legacy_dim):
            row = int(np.flatnonzero(lengths != legacy_dim)[0])
            raise DataError(
                f"legacy vector has {lengths[row]} dims, model.legacy_dim is {legacy_dim}",
                row=row + 1,
                column="legacy_vector",
            )
        dense = np.zeros((entities.num_rows, legacy_dim), np.float32)
        flat = pc.list_flatten(vectors).to_numpy(zero_copy_only=False).astype(np.float32)
        if flat.size:
            dense[present] = flat.reshape(-1, legacy_dim)
        for kind in ITEM_TYPES:
            rows = np.flatnonzero(kinds == kind)
            catalog.rows[kind] = rows
            catalog.ids[kind] = all_ids[rows]
            catalog.legacy[kind] = dense[rows]
            catalog.has_legacy[kind] = present[rows]
        catalog.ids["query"] = catalog.queries
        return catalog

    def size(self, entity_type: str) -> int:
        return len(self.ids[entity_type])

    def lookup(self, entity_type: str, values: pa.ChunkedArray | pa.Array, what: str) -> np.ndarray:
        """Integer ids of `values` (entity ids, or query texts for "query"); every value must exist."""
        index = pc.index_in(values, value_set=pa.array(self.ids[entity_type], pa.string()))
        if index.null_count:
            first = values[pc.index(pc.is_null(index), True).as_py()].as_py()
            raise DataError(f"{what} '{first}' is not in the {entity_type} catalog (enriched entity table)")
        return index.to_numpy(zero_copy_only=False).astype(np.int64)
