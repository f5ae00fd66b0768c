"""The item store: what a search page shows for each indexed item, written beside the indexes.

`omnisage index` writes `items/<type>.parquet` (one row per indexed pin, product or query, keyed by
`entity_id`) from the enriched entity table and the world's pins, products and queries tables. The service
loads it with the index set, so a hot swap brings its items along. Without any source the folder is absent
and results carry ids only. Pins and products also keep, from the enriched table, what the relevance
student's item features read beyond the display fields (`RELEVANCE_COLUMNS`; `relevance_table`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.atomic import write_atomic
from omnisage.data.io import find_table, read_table
from omnisage.schema import ITEM_TYPES, PINS, PRODUCTS, QUERIES, TableSpec

ITEMS_DIR = "items"
IMAGES_DIR = "images"  # items/images/: image files an item's relative image_ref may name
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
ENRICHED_TABLE = "enriched_entities"
# Display fields per item type, in the order a page lists them. A query's `text` is its id.
FIELDS: dict[str, tuple[str, ...]] = {
    "pin": ("title", "description", "caption", "board_titles", "engaged_queries", "image_ref", "lang"),
    "product": (
        "title",
        "brand",
        "color",
        "description",
        "caption",
        "board_titles",
        "engaged_queries",
        "image_ref",
        "lang",
    ),
    "query": ("text", "volume", "lang"),
}
# Enriched columns kept for the relevance student only (omnisage.relevance.features), never displayed.
RELEVANCE_COLUMNS = ("engaged_query_scores", "legacy_vector")
_WORLD = {"pin": PINS, "product": PRODUCTS, "query": QUERIES}
_ENRICHED_COLUMNS = (
    "title",
    "description",
    "caption",
    "brand",
    "color",
    "board_titles",
    "engaged_queries",
    "lang",
    *RELEVANCE_COLUMNS,
)


def _stored(kind: str) -> tuple[str, ...]:
    """The columns `items/<kind>.parquet` may hold besides `entity_id`."""
    return FIELDS[kind] + (RELEVANCE_COLUMNS if kind != "query" else ())


def _world_table(world_dir: Path | None, spec: TableSpec) -> pa.Table | None:
    path = find_table(world_dir, spec.name) if world_dir is not None else None
    if path is None:
        return None
    table = read_table(path, spec)
    return table.rename_columns(["entity_id", *table.column_names[1:]])  # pin_id / product_id / query_text


def _enriched(path: Path | None) -> pa.Table | None:
    if path is None:
        return None
    found = find_table(path, ENRICHED_TABLE) if path.is_dir() else path
    if found is None:
        return None
    names = pq.read_schema(found if found.is_file() else next(found.glob("*.parquet"))).names
    return pq.read_table(
        found, columns=["entity_type", "entity_id", *(c for c in _ENRICHED_COLUMNS if c in names)]
    )


def _item_table(
    kind: str, ids: Iterable[str], enriched: pa.Table | None, world: pa.Table | None
) -> pa.Table | None:
    """The display rows of `ids`: enriched columns first, the world table filling what they lack."""
    wanted = pa.array(sorted(set(ids)), pa.string())
    columns: dict[str, pa.Array] = {}
    sources = []
    if enriched is not None and kind != "query":
        sources.append(enriched.filter(pc.equal(enriched.column("entity_type"), kind)))
    if world is not None:
        sources.append(world)
    for source in sources:
        # (N,) row of each wanted id in the source, null where absent
        rows = pc.index_in(wanted, value_set=source.column("entity_id").combine_chunks())
        for name in _stored(kind):
            if name in source.column_names:
                column = source.column(name).combine_chunks()
                taken = pc.take(column, rows) if len(column) else pa.nulls(len(wanted), column.type)
                have = columns.get(name)
                columns[name] = taken if have is None or have.type != taken.type else pc.coalesce(have, taken)
    if not columns:
        return None
    return pa.table({"entity_id": wanted, **columns})


def write_item_store(
    out_dir: Path, ids_by_type: dict[str, Iterable[str]], enriched: Path | None, world_dir: Path | None
) -> list[str]:
    """Write `out_dir/items/<type>.parquet` for every type a source covers; returns the types written."""
    enriched_table = _enriched(enriched)
    written = []
    for kind, ids in ids_by_type.items():
        table = _item_table(kind, ids, enriched_table, _world_table(world_dir, _WORLD[kind]))
        if table is None:
            continue
        path = out_dir / ITEMS_DIR / f"{kind}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda fh, t=table: pq.write_table(t, fh, compression="zstd"))
        written.append(kind)
    return written


def _present(path: Path, columns: Iterable[str]) -> list[str]:
    names = set(pq.read_schema(path).names)
    return [c for c in columns if c in names]


def relevance_table(index_dir: str | Path, columns: Iterable[str]) -> pa.Table | None:
    """The indexed pins and products as enriched-table rows (`entity_type`, `entity_id` and whichever of
    `columns` the store holds; pins first), or None when the store was written without the enriched table's
    relevance columns (`omnisage index` without `--enriched`)."""
    parts = []
    for kind in ITEM_TYPES:
        path = Path(index_dir) / ITEMS_DIR / f"{kind}.parquet"
        if not path.is_file() or RELEVANCE_COLUMNS[0] not in pq.read_schema(path).names:
            continue
        table = pq.read_table(path, columns=_present(path, ("entity_id", *columns)))
        parts.append(table.add_column(0, "entity_type", pa.array([kind] * table.num_rows, pa.string())))
    return pa.concat_tables(parts, promote_options="default") if parts else None


class ItemStore:
    """Display fields by (type, id), held as Python lists per column: a lookup is two dict hits."""

    def __init__(self, tables: dict[str, pa.Table], directory: Path | None = None):
        self.directory = directory  # the items/ folder; local image files live in its images/ subfolder
        self.columns: dict[str, dict[str, list[Any]]] = {}
        self.rows: dict[str, dict[str, int]] = {}
        for kind, table in tables.items():
            ids = table.column("entity_id").to_pylist()
            self.rows[kind] = {i: r for r, i in enumerate(ids)}
            self.columns[kind] = {
                n: table.column(n).to_pylist() for n in table.column_names if n != "entity_id"
            }

    @classmethod
    def load(cls, index_dir: str | Path) -> ItemStore | None:
        folder = Path(index_dir) / ITEMS_DIR
        if not folder.is_dir():
            return None
        tables = {
            p.stem: pq.read_table(p, columns=_present(p, ("entity_id", *FIELDS[p.stem])))
            for p in sorted(folder.glob("*.parquet"))
            if p.stem in FIELDS
        }
        return cls(tables, folder)

    def fields(self, kind: str) -> tuple[str, ...]:
        """The display fields this store holds for `kind` (a query's text always)."""
        held = self.columns.get(kind, {})
        return tuple(n for n in FIELDS.get(kind, ()) if n in held or (kind == "query" and n == "text"))

    def get(self, kind: str, entity_id: str, fields: Iterable[str] | None = None) -> dict[str, Any] | None:
        """The item's fields (all held when `fields` is None), or None when the store does not know it."""
        row = self.rows.get(kind, {}).get(entity_id)
        if row is None:
            return None
        columns = self.columns[kind]
        out: dict[str, Any] = {}
        for name in self.fields(kind) if fields is None else fields:
            if name == "text" and kind == "query":
                out[name] = entity_id
            elif name in columns:
                out[name] = columns[name][row]
        return out

    def image_path(self, kind: str, entity_id: str) -> Path | None:
        """The item's local image file, only when `image_ref` is a relative path to an image file inside
        `items/images/` (no URL, no absolute path, no escaping `..`); None otherwise."""
        ref = (self.get(kind, entity_id, ["image_ref"]) or {}).get("image_ref")
        if not isinstance(ref, str) or not ref or self.directory is None or "://" in ref:
            return None
        root = (self.directory / IMAGES_DIR).resolve()
        path = (root / ref).resolve()
        if (
            Path(ref).is_absolute()
            or not path.is_relative_to(root)
            or path.suffix.lower() not in IMAGE_SUFFIXES
        ):
            return None
        return path if path.is_file() else None
