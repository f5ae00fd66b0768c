"""ESCI adapter: tiny examples/products Parquet files in the published columns, three locales, bad rows included."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.data.esci import read_esci
from omnisage.data.judgments import build_world, write_world
from omnisage.data.validate import load_world
from omnisage.errors import DataError

PRODUCTS = {
    "product_id": ["B01", "B02", "B01", "B03", "B04", "B02"],
    "product_locale": ["us", "us", "es", "jp", "jp", "us"],
    "product_title": ["Red Mug", "Tea Kettle", "Taza Roja", "赤いマグカップ", None, "Kettle again"],
    "product_description": ["<p>A <b>red</b> mug.</p>", None, "Taza de cerámica", None, "説明", None],
    "product_bullet_point": ["Holds 12 oz\nDishwasher safe", None, None, None, None, None],
    "product_brand": ["Acme", "Brew", None, "", None, None],
    "product_color": ["Red", None, "Rojo", None, None, None],
}
EXAMPLES = {
    "example_id": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    "query": [
        "red mug",
        "red mug",
        "Taza roja",
        "マグカップ",
        "マグカップ",
        "kettle",
        "",
        "kettle",
        "mug",
        "Red Mug",
    ],
    "query_id": [1, 1, 2, 3, 3, 4, 5, 4, 6, 1],
    "product_id": ["B01", "B02", "B01", "B03", "B04", "B02", "B01", "B09", "B01", "B01"],
    "product_locale": ["us", "us", "es", "jp", "jp", "us", "us", "us", "fr", "us"],
    "esci_label": ["E", "C", "E", "S", "E", "X", "E", "E", "E", "I"],
    "small_version": [1, 1, 0, 1, 1, 1, 1, 1, 1, 1],
    "split": ["train", "test", "train", "train", "test", "train", "train", "train", "train", "train"],
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    examples, products = tmp_path / "examples.parquet", tmp_path / "products.parquet"
    pq.write_table(pa.table(EXAMPLES), examples)
    pq.write_table(pa.table(PRODUCTS), products)
    return examples, products


def test_labels_locales_and_products(files: tuple[Path, Path]) -> None:
    data = read_esci(*files)
    rows = data.judgments.to_pylist()
    assert [
        (r["query_text"], r["product_id"], r["label"], r["relevance"], r["engaged"], r["lang"]) for r in rows
    ] == [
        ("red mug", "us:B01", "E", 3.0, True, "en"),
        ("red mug", "us:B02", "C", 1.5, False, "en"),
        ("taza roja", "es:B01", "E", 3.0, True, "es"),
        ("マグカップ", "jp:B03", "S", 2.0, False, "ja"),
        ("マグカップ", "jp:B04", "E", 3.0, True, "ja"),
    ]
    assert [r["ts"].isoformat() for r in rows][-1] == "2016-01-01T00:04:00+00:00"  # example_id 4, in minutes
    products = {p["product_id"]: p for p in data.products.to_pylist()}
    assert list(products) == ["us:B01", "us:B02", "es:B01", "jp:B03", "jp:B04"]
    assert products["us:B01"]["description"] == "Holds 12 oz Dishwasher safe\nA red mug."
    assert (products["us:B01"]["brand"], products["us:B01"]["color"]) == ("Acme", "Red")
    assert products["jp:B03"]["brand"] is None and products["jp:B04"]["title"] is None
    assert [products[k]["lang"] for k in products] == ["en", "en", "es", "ja", "ja"]
    world = build_world(data)
    engaged = [(e["query_text"], e["entity_type"], e["entity_id"]) for e in world["engagements"].to_pylist()]
    assert engaged == [
        ("red mug", "product", "us:B01"),
        ("taza roja", "product", "es:B01"),
        ("マグカップ", "product", "jp:B04"),
    ]  # no two queries share an engaged product here, so no query→query pairs
    assert world["queries"].to_pylist() == [
        {"query_text": "red mug", "lang": "en", "volume": None},
        {"query_text": "taza roja", "lang": "es", "volume": None},
        {"query_text": "マグカップ", "lang": "ja", "volume": None},
    ]


def test_bad_rows_are_counted(files: tuple[Path, Path], tmp_path: Path) -> None:
    examples, products = files
    data = read_esci(examples, products)
    assert [(Path(f).name, row, column, reason) for f, row, column, reason, _ in data.rejections.rows] == [
        ("products.parquet", 6, "product_id", "repeated product (same product_id and locale)"),
        ("examples.parquet", 6, "esci_label", "unknown esci_label (expected E, S, C or I)"),
        ("examples.parquet", 7, "query", "missing query"),
        ("examples.parquet", 8, "product_id", "product not in the products file"),
        ("examples.parquet", 9, "product_locale", "unknown product_locale (expected us, es or jp)"),
        ("examples.parquet", 10, "query", "repeated (query, product) pair"),
    ]
    counts = write_world(data, tmp_path / "world")
    assert counts == {"products": 5, "queries": 3, "engagements": 3, "relevance_labels": 5}
    assert load_world(tmp_path / "world").counts() == {
        "products": 5,
        "queries": 3,
        "engagements": 3,
        "relevance_labels": 5,
    }
    with pytest.raises(DataError) as info:
        read_esci(examples, products, lenient=False)
    assert str(info.value) == (
        f"{products}: row 6, column 'product_id': repeated product (same product_id and locale)"
    )


def test_filters(files: tuple[Path, Path]) -> None:
    def pairs(**kwargs) -> list[tuple[str, str]]:
        data = read_esci(*files, **kwargs)
        return list(
            zip(data.judgments.column("query_text").to_pylist(), data.judgments.column("label").to_pylist())
        )

    assert pairs(locales=("es",)) == [("taza roja", "E")]
    assert pairs(small_version=True, split="train") == [("red mug", "E"), ("マグカップ", "S")]
    assert read_esci(*files, locales=("jp",)).products.num_rows == 2
    with pytest.raises(DataError, match="unknown locale 'fr'"):
        read_esci(*files, locales=("fr",))


def test_missing_column_and_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    examples, products = files
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({k: v for k, v in EXAMPLES.items() if k != "esci_label"}), bad)
    with pytest.raises(DataError) as info:
        read_esci(bad, products)
    assert str(info.value).startswith(f"{bad}: column 'esci_label': missing required column")
    with pytest.raises(DataError, match="file not found"):
        read_esci(examples, tmp_path / "none.parquet")


def test_invalid_utf8_is_rejected(files: tuple[Path, Path], tmp_path: Path) -> None:
    examples, products = files
    raw = pa.table(EXAMPLES).set_column(
        1, "query", pa.array([q.encode() for q in EXAMPLES["query"][:-1]] + [b"caf\xe9"], pa.binary())
    )
    pq.write_table(raw, examples)
    data = read_esci(examples, products)
    assert (Path(data.rejections.rows[-1][0]).name, *data.rejections.rows[-1][1:4]) == (
        "examples.parquet",
        10,
        "query",
        "text is not valid UTF-8",
    )
    assert data.judgments.num_rows == 5
