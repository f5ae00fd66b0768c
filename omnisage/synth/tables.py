"""Arrow tables of the synthetic world: pins and products rendered chunk by chunk together with their
legacy/image embeddings and ground-truth rows, plus the boards and taxonomy tables. Types follow
`omnisage.schema` exactly (vectors as fixed_size_list<float32>[dim]).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from omnisage.schema import BOARDS, IMAGE_EMBEDDINGS, LEGACY_EMBEDDINGS, PINS, PRODUCTS, TIMESTAMP, TableSpec
from omnisage.synth.latent import NONE, Boards, Items, Taxonomy, stream
from omnisage.synth.text import Dice, Writer
from omnisage.synth.vectors import VectorModel

ITEM_CHUNK = 50_000  # items rendered per chunk: a constant, so the output never depends on the machine

ENTITY_TRUTH = pa.schema(
    [
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("lang", pa.string()),
        ("top_id", pa.string()),
        ("sub_id", pa.string()),
        ("leaf_id", pa.string()),
        ("leaf_name", pa.string()),
        ("secondary_leaf_id", pa.string()),
        ("attributes", pa.list_(pa.string())),
        ("created_ts", TIMESTAMP),
        ("popularity", pa.float32()),
        ("has_text", pa.bool_()),
        ("caption_on_topic", pa.bool_()),
    ]
)


def table_schema(spec: TableSpec, dim: int | None = None) -> pa.Schema:
    """The contract's Arrow schema, with the vector column fixed to `dim`."""
    return pa.schema(
        [
            pa.field(
                c.name,
                pa.list_(pa.float32(), dim) if c.name == spec.vector_column else c.type,
                nullable=c.nullable,
            )
            for c in spec.columns
        ]
    )


@dataclass(frozen=True)
class ItemChunk:
    items: pa.Table  # pins or products rows
    legacy: pa.Table  # legacy_embeddings rows
    image: pa.Table  # image_embeddings rows
    truth: pa.Table  # truth/entity_interests rows


def item_chunks(
    seed: int,
    tax: Taxonomy,
    writer: Writer,
    vectors: VectorModel,
    items: Items,
    no_text: np.ndarray,
    end_day: int,
) -> Iterator[ItemChunk]:
    """Render `items` ITEM_CHUNK at a time; `no_text` marks pins that get neither title nor description."""
    spec = PINS if items.kind == "pin" else PRODUCTS
    k = 0 if items.kind == "pin" else 1
    for c, lo in enumerate(range(0, len(items), ITEM_CHUNK)):
        rows = slice(lo, min(lo + ITEM_CHUNK, len(items)))
        cols, on_topic = _item_rows(Dice(stream(seed, "text", k, c)), tax, writer, items, rows, no_text)
        n = len(on_topic)
        entity = {"entity_type": pa.array([items.kind] * n), "entity_id": pa.array(cols[spec.key[0]])}
        legacy = vectors.legacy(stream(seed, "vectors", k, c), items, rows, end_day)
        image = vectors.image(stream(seed, "vectors", 2 + k, c), items, rows)
        yield ItemChunk(
            pa.table(cols, schema=table_schema(spec)),
            pa.table(
                {**entity, "vector": _vectors(legacy)},
                schema=table_schema(LEGACY_EMBEDDINGS, legacy.shape[1]),
            ),
            pa.table(
                {**entity, "vector": _vectors(image)}, schema=table_schema(IMAGE_EMBEDDINGS, image.shape[1])
            ),
            pa.table({**entity, **_truth_rows(tax, items, rows, cols, on_topic)}, schema=ENTITY_TRUTH),
        )


def _item_rows(
    d: Dice, tax: Taxonomy, writer: Writer, items: Items, rows: slice, no_text: np.ndarray
) -> tuple[dict[str, list], list[bool]]:
    """The pins or products table's columns for `rows`, and whether each caption is about the item's interest."""
    kind = items.kind
    spec = PINS if kind == "pin" else PRODUCTS
    prefix = "p" if kind == "pin" else "pr"
    empty_pin = {"title": None, "description": None, "link": None}
    ids = [f"{prefix}{i}" for i in range(rows.start, rows.stop)]
    cols: dict[str, list] = {name: [] for name in spec.names}
    on_topic = []
    fields = (items.lang[rows], items.leaf[rows], items.leaf2[rows], items.attr1[rows], items.attr2[rows])
    for i, (lang, leaf, leaf2, a1, a2) in enumerate(zip(*(f.tolist() for f in fields))):
        caption, ok = writer.caption(d, leaf, leaf2, a1, a2)
        if kind == "pin":
            text = empty_pin if no_text[rows.start + i] else writer.pin(d, lang, leaf, leaf2, a1, a2)
        else:
            text = writer.product(d, lang, leaf, a1, a2, ids[i])
        for name, value in text.items():
            cols[name].append(value)
        cols["caption"].append(caption)
        on_topic.append(ok)
    cols[spec.key[0]] = ids
    cols["image_ref"] = [None] * len(ids)  # no pixels in a synthetic world: captions come precomputed
    cols["lang"] = np.array(tax.languages)[items.lang[rows]].tolist()
    cols["created_ts"] = pa.array(items.created_us[rows], TIMESTAMP)
    return cols, on_topic


def _truth_rows(
    tax: Taxonomy, items: Items, rows: slice, cols: dict[str, list], on_topic: list[bool]
) -> dict[str, list]:
    """truth/entity_interests columns (but the entity's own) for the items `cols` holds."""
    lx = tax.lexicon
    leaf, leaf2 = items.leaf[rows].tolist(), items.leaf2[rows].tolist()
    return {
        "lang": cols["lang"],
        "top_id": [lx.tops[t].id for t in tax.leaf_top[items.leaf[rows]].tolist()],
        "sub_id": [lx.subs[s].id for s in tax.leaf_sub[items.leaf[rows]].tolist()],
        "leaf_id": [lx.leaves[x].id for x in leaf],
        "leaf_name": [lx.leaves[x].name for x in leaf],
        "secondary_leaf_id": [lx.leaves[x].id if x != NONE else None for x in leaf2],
        "attributes": [
            [lx.attributes[a].name for a in pair if a != NONE]
            for pair in zip(items.attr1[rows].tolist(), items.attr2[rows].tolist())
        ],
        "created_ts": cols["created_ts"],
        "popularity": items.popularity[rows].astype(np.float32),
        "has_text": [bool(t or x) for t, x in zip(cols["title"], cols["description"])],
        "caption_on_topic": on_topic,
    }


def _vectors(v: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])


def boards_table(seed: int, writer: Writer, boards: Boards) -> pa.Table:
    d = Dice(stream(seed, "text", 2))
    latent = (boards.title_kind, boards.concept, boards.attr, boards.top, boards.lang)
    titles = [writer.board_title(d, *row) for row in zip(*(c.tolist() for c in latent))]
    return pa.table(
        {
            "board_id": [f"b{i}" for i in range(len(boards))],
            "title": titles,
            "owner": [f"u{u}" for u in boards.owner.tolist()],
        },
        schema=table_schema(BOARDS),
    )


def taxonomy_table(tax: Taxonomy) -> pa.Table:
    """truth/taxonomy: one row per leaf with its sub and top, and the leaf's words in every language."""
    lx = tax.lexicon
    rows = [(leaf, lx.subs[leaf.parent], lx.tops[lx.subs[leaf.parent].parent]) for leaf in lx.leaves]
    cols: dict[str, list] = {}
    for i, level in enumerate(("leaf", "sub", "top")):
        cols[f"{level}_id"] = [r[i].id for r in rows]
        cols[f"{level}_name"] = [r[i].name for r in rows]
    for lang in tax.languages:
        cols[f"leaf_words_{lang}"] = [list(r[0].words[lang]) for r in rows]
    return pa.table(cols)
