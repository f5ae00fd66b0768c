"""Data contracts: the input tables every stage reads, and the enriched entity table.

Each table is a `TableSpec`: typed columns, a unique key, enumerated values and foreign keys. Readers in
`omnisage.data.io` coerce any supported file format to these Arrow types and `omnisage.data.validate`
enforces the rest, so downstream code can trust what it gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
VECTOR = pa.list_(pa.float32())  # stored as fixed_size_list<float32>[dim] once the dimension is known

ENTITY_TYPES = ("pin", "product", "query")
ITEM_TYPES = ("pin", "product")

# Which engagement actions exist for which entity type. Products also get offsite actions; a click on a
# related-query suggestion is a query→query engagement.
ACTIONS_BY_ENTITY: dict[str, tuple[str, ...]] = {
    "pin": ("save", "long_click", "click"),
    "product": ("save", "long_click", "click", "add_to_cart", "checkout"),
    "query": ("click",),
}
ACTIONS = ("save", "long_click", "click", "add_to_cart", "checkout")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = True  # the column must be present in the file
    nullable: bool = True  # cells may be empty
    allowed: tuple[str, ...] | None = None  # enumerated string values


@dataclass(frozen=True)
class ForeignKey:
    """`column` must name a key of `table`; with `by_type`, the referenced table depends on a type column."""

    column: str
    table: str | None = None
    type_column: str | None = None
    by_type: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    vector_column: str | None = None
    required_table: bool = False

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _text(name: str, required: bool = False) -> Column:
    return Column(name, pa.string(), required=required, nullable=not required)


def _key(name: str) -> Column:
    return Column(name, pa.string(), required=True, nullable=False)


_ITEM_TEXT = (
    _text("title"),
    _text("description"),
    _text("link"),
    _text("image_ref"),
    _text("caption"),
    _text("lang"),
)

PINS = TableSpec(
    "pins",
    (_key("pin_id"), *_ITEM_TEXT, Column("created_ts", TIMESTAMP, required=False)),
    key=("pin_id",),
)
PRODUCTS = TableSpec(
    "products",
    (
        _key("product_id"),
        *_ITEM_TEXT,
        _text("brand"),
        _text("color"),
        _text("attributes"),  # free key/values as a JSON object
        Column("created_ts", TIMESTAMP, required=False),
    ),
    key=("product_id",),
)
QUERIES = TableSpec(
    "queries",
    (_key("query_text"), _text("lang"), Column("volume", pa.int64(), required=False)),
    key=("query_text",),
)
BOARDS = TableSpec(
    "boards", (_key("board_id"), _text("title", required=False), _text("owner")), key=("board_id",)
)
BOARD_SAVES = TableSpec(
    "board_saves",
    (_key("board_id"), _key("pin_id"), Column("ts", TIMESTAMP, required=True, nullable=False)),
    key=("board_id", "pin_id"),
    foreign_keys=(ForeignKey("board_id", table="boards"), ForeignKey("pin_id", table="pins")),
)
_BY_TYPE = {"pin": "pins", "product": "products", "query": "queries"}
ENGAGEMENTS = TableSpec(
    "engagements",
    (
        _key("query_text"),
        Column("entity_type", pa.string(), nullable=False, allowed=ENTITY_TYPES),
        _key("entity_id"),
        Column("action", pa.string(), nullable=False, allowed=ACTIONS),
        Column("ts", TIMESTAMP, nullable=False),
    ),
    foreign_keys=(
        ForeignKey("entity_id", type_column="entity_type", by_type=_BY_TYPE),
        ForeignKey("query_text", table="queries"),
    ),
)

# Human relevance judgments of (query, item) pairs, for the relevance model. `label` is a number on the scale the
# source declares in world.json ("relevance_scale", see omnisage.data.scale); `raters` how many people
# judged the pair (when known), `lang` the query's language.
RELEVANCE_LABELS = TableSpec(
    "relevance_labels",
    (
        _key("query_text"),
        Column("entity_type", pa.string(), nullable=False, allowed=ITEM_TYPES),
        _key("entity_id"),
        Column("label", pa.float64(), nullable=False),
        Column("raters", pa.int64(), required=False),
        _text("lang"),
    ),
    key=("query_text", "entity_type", "entity_id"),
    foreign_keys=(
        ForeignKey("entity_id", type_column="entity_type", by_type=_BY_TYPE),
        ForeignKey("query_text", table="queries"),
    ),
)


def _embedding_table(name: str) -> TableSpec:
    return TableSpec(
        name,
        (
            Column("entity_type", pa.string(), nullable=False, allowed=ITEM_TYPES),
            _key("entity_id"),
            Column("vector", VECTOR, nullable=False),
        ),
        key=("entity_type", "entity_id"),
        foreign_keys=(ForeignKey("entity_id", type_column="entity_type", by_type=_BY_TYPE),),
        vector_column="vector",
    )


LEGACY_EMBEDDINGS = _embedding_table("legacy_embeddings")
IMAGE_EMBEDDINGS = _embedding_table("image_embeddings")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        PINS,
        PRODUCTS,
        QUERIES,
        BOARDS,
        BOARD_SAVES,
        ENGAGEMENTS,
        RELEVANCE_LABELS,
        LEGACY_EMBEDDINGS,
        IMAGE_EMBEDDINGS,
    )
}

# The enriched entity table (output of `omnisage enrich`, input of training and batch inference):
# one row per pin/product with every text field and the continuous features.
ENRICHED_ENTITIES = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("lang", pa.string()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("caption", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("color", pa.string()),
        pa.field("board_titles", pa.list_(pa.string())),  # top 10, best first
        pa.field("engaged_queries", pa.list_(pa.string())),  # top 20, best first
        pa.field("engaged_query_scores", pa.list_(pa.float32())),  # weighted counts, aligned with the above
        pa.field("legacy_vector", VECTOR),  # null when the entity has no legacy embedding
        pa.field("image_vector", VECTOR),  # null when the entity has no image embedding
    ]
)
