"""The item store, hand-checked: enriched fields first, the world filling what they lack; safe local images only."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.index.display import ItemStore, write_item_store


def make_sources(root: Path) -> tuple[Path, Path]:
    world, enriched = root / "world", root / "enriched.parquet"
    world.mkdir()
    pins = {
        "pin_id": ["p1", "p2", "p3"],
        "title": ["Sofa", "Lamp", "Rug"],
        "image_ref": ["p1.png", None, "../x.png"],
    }
    pq.write_table(pa.table(pins), world / "pins.parquet")
    pq.write_table(
        pa.table({"query_text": ["blue sofa"], "volume": [7], "lang": ["en"]}), world / "queries.parquet"
    )
    rows = {
        "entity_type": ["pin", "pin", "product"],
        "entity_id": ["p1", "p2", "pr1"],
        "title": ["Blue sofa", None, "Oak table"],
        "brand": [None, None, "Oakly"],
        "board_titles": [["living room"], [], []],
    }
    pq.write_table(pa.table(rows), enriched)
    return world, enriched


def test_fields_come_from_enriched_then_world(tmp_path: Path) -> None:
    world, enriched = make_sources(tmp_path)
    ids = {"pin": ["p1", "p2", "p3"], "product": ["pr1"], "query": ["blue sofa"]}
    assert write_item_store(tmp_path / "idx", ids, enriched, world) == ["pin", "product", "query"]
    store = ItemStore.load(tmp_path / "idx")
    p1 = store.get("pin", "p1")
    assert p1 == p1 | {"title": "Blue sofa", "board_titles": ["living room"], "image_ref": "p1.png"}
    assert p1["caption"] is None and "brand" not in p1  # the world table's optional columns; products' only
    assert store.get("pin", "p2", ["title"]) == {"title": "Lamp"}  # a null enriched title: the world's
    assert store.get("pin", "p3")["title"] == "Rug"  # not enriched at all
    assert store.get("product", "pr1", ["title", "brand"]) == {"title": "Oak table", "brand": "Oakly"}
    assert store.get("query", "blue sofa") == {"text": "blue sofa", "volume": 7, "lang": "en"}
    assert store.get("pin", "p9") is None and store.get("board", "b1") is None


def test_without_sources_there_is_no_store(tmp_path: Path) -> None:
    assert write_item_store(tmp_path, {"pin": ["p1"]}, None, None) == []
    assert ItemStore.load(tmp_path) is None


def test_only_image_files_inside_items_images_are_served(tmp_path: Path) -> None:
    world, enriched = make_sources(tmp_path)
    write_item_store(tmp_path / "idx", {"pin": ["p1", "p2", "p3"]}, enriched, world)
    images = tmp_path / "idx" / "items" / "images"
    images.mkdir()
    (images / "p1.png").write_bytes(b"\x89PNG")
    (tmp_path / "idx" / "items" / "x.png").write_bytes(b"\x89PNG")  # exists, but outside images/
    store = ItemStore.load(tmp_path / "idx")
    assert store.image_path("pin", "p1") == (images / "p1.png").resolve()
    assert store.image_path("pin", "p2") is None and store.image_path("pin", "p3") is None
