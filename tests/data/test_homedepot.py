"""Home Depot adapter: a hand-written CSV whose tables, engagements, query→query pairs and rejections are known."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from omnisage.data.homedepot import read_homedepot
from omnisage.data.judgments import build_world, query_pairs, write_world
from omnisage.data.validate import load_world
from omnisage.errors import DataError

# The real file is read in place (never copied into the project); elsewhere, point OMNISAGE_HOMEDEPOT_CSV at it.
REAL = Path(
    os.environ.get(
        "OMNISAGE_HOMEDEPOT_CSV",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "homedepot" / "train.csv",
    )
)

GOOD = (
    "id,product_uid,product_title,search_term,relevance\n"
    "1,100,Cordless Drill 18V,cordless drill,3\n"
    "2,100,Cordless Drill 18V,Drill  Driver,2.67\n"
    "3,100,Cordless Drill 18V,impact driver,2\n"
    '4,200,"Hammer, 16 oz",hammer,2.67\n'
    "5,200,Hammer 16 oz (new title),claw hammer,3\n"
    "6,300,Paint Roller,cordless drill,1\n"
    "7,200,Hammer 16 oz,Cordless drill,2.6667\n"
)
BAD = (
    "8,400,,drill bits,3\n"  # missing title
    "9,400,Drill Bits,drill bits,3.5\n"  # relevance out of range
    "10,400,Drill Bits,drill bits,high\n"  # not a number
    "11,400,Drill Bits,drill bits\n"  # missing field
    "1,400,Drill Bits,drill bits,3\n"  # duplicate id
    "12,400,Drill Bits,  ,3\n"  # empty search term
    "13,100,Cordless Drill 18V,CORDLESS DRILL,2\n"  # the same normalized pair as row 1
)


def write(tmp_path: Path, text: bytes | str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return write(tmp_path, GOOD.encode() + BAD.encode() + b"14,500,Caf\xe9 Table,table,3\n")


def test_tables_from_good_rows(csv_path: Path) -> None:
    data = read_homedepot(csv_path)
    world = build_world(data)
    products = world["products"].to_pylist()
    assert [(p["product_id"], p["title"], p["lang"]) for p in products] == [
        ("100", "Cordless Drill 18V", "en"),
        ("200", "Hammer, 16 oz", "en"),  # the later, different title of product 200 is not kept
        ("300", "Paint Roller", "en"),
    ]
    assert data.notes == {"conflicting_titles": 2}
    assert world["queries"].column("query_text").to_pylist() == [
        "cordless drill",
        "drill driver",
        "impact driver",
        "hammer",
        "claw hammer",
    ]
    product_rows = [
        (e["query_text"], e["entity_id"], e["action"], e["ts"].isoformat())
        for e in world["engagements"].to_pylist()
        if e["entity_type"] == "product"
    ]
    # relevance >= 2.67 (an unrounded 8/3 included) is engaged; stamped 2016-01-01 + id minutes
    assert product_rows == [
        ("cordless drill", "100", "long_click", "2016-01-01T00:01:00+00:00"),
        ("drill driver", "100", "long_click", "2016-01-01T00:02:00+00:00"),
        ("hammer", "200", "long_click", "2016-01-01T00:04:00+00:00"),
        ("claw hammer", "200", "long_click", "2016-01-01T00:05:00+00:00"),
        ("cordless drill", "200", "long_click", "2016-01-01T00:07:00+00:00"),
    ]
    labels = world["relevance_labels"].to_pylist()
    assert [(r["query_text"], r["entity_id"], r["label"]) for r in labels][2] == ("impact driver", "100", 2.0)
    assert [round(r["label"], 4) for r in labels] == [3.0, 2.67, 2.0, 2.67, 3.0, 1.0, 2.6667]


def test_query_pairs_share_an_engaged_product(csv_path: Path) -> None:
    world = build_world(read_homedepot(csv_path))
    pairs = [
        (e["query_text"], e["entity_id"], e["action"], e["ts"].isoformat())
        for e in world["engagements"].to_pylist()
        if e["entity_type"] == "query"
    ]
    # product 100: cordless drill + drill driver; product 200: hammer, claw hammer, cordless drill.
    # A pair is dated by the later of its two engagements, earliest over the products it shares.
    assert pairs == [
        ("claw hammer", "cordless drill", "click", "2016-01-01T00:07:00+00:00"),
        ("claw hammer", "hammer", "click", "2016-01-01T00:05:00+00:00"),
        ("cordless drill", "claw hammer", "click", "2016-01-01T00:07:00+00:00"),
        ("cordless drill", "drill driver", "click", "2016-01-01T00:02:00+00:00"),
        ("cordless drill", "hammer", "click", "2016-01-01T00:07:00+00:00"),
        ("drill driver", "cordless drill", "click", "2016-01-01T00:02:00+00:00"),
        ("hammer", "claw hammer", "click", "2016-01-01T00:05:00+00:00"),
        ("hammer", "cordless drill", "click", "2016-01-01T00:07:00+00:00"),
    ]
    capped = query_pairs(world["engagements"], max_queries_per_entity=2)
    assert sorted(zip(capped.column("query_text").to_pylist(), capped.column("entity_id").to_pylist())) == [
        ("claw hammer", "hammer"),
        ("cordless drill", "drill driver"),
        ("drill driver", "cordless drill"),
        ("hammer", "claw hammer"),
    ]


def test_bad_rows_are_counted_and_written(csv_path: Path, tmp_path: Path) -> None:
    data = read_homedepot(csv_path)
    assert data.rejections.counts() == {
        "duplicate id": 1,
        "malformed row: 4 fields, expected 5": 1,
        "missing product title": 1,
        "missing search term": 1,
        "relevance is not a number": 1,
        "relevance out of range 1–3": 1,
        "repeated (query, product) pair": 1,
        "text is not valid UTF-8": 1,
    }
    assert [(row, column) for _, row, column, _, _ in data.rejections.rows] == [
        (8, "product_title"),
        (9, "relevance"),
        (10, "relevance"),
        (11, ""),
        (12, "id"),
        (13, "search_term"),
        (14, "search_term"),
        (15, "product_title"),
    ]
    out = tmp_path / "world"
    counts = write_world(data, out)
    assert counts == {"products": 3, "queries": 5, "engagements": 13, "relevance_labels": 7}
    summary = json.loads((out / "ingest.json").read_text())
    assert summary["rejected_rows"] == 8 and summary["rows"] == counts
    lines = (out / "rejected_rows.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file,row,column,reason,value" and len(lines) == 9
    assert lines[-1] == f"{csv_path},15,product_title,text is not valid UTF-8,Caf\ufffd Table"
    # the written directory satisfies every data contract, foreign keys included
    counts = {"products": 3, "queries": 5, "engagements": 13, "relevance_labels": 7}
    assert load_world(out).counts() == counts


def test_strict_mode_raises_at_the_first_bad_row(csv_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_homedepot(csv_path, lenient=False)
    assert str(info.value) == f"{csv_path}: row 8, column 'product_title': missing product title"


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_homedepot(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"empty file \(no header row\)"):
        read_homedepot(write(tmp_path, ""))
    path = write(tmp_path, "id,product_uid,product_title,search_term\n1,2,a,b\n")
    with pytest.raises(DataError) as info:
        read_homedepot(path)
    assert str(info.value) == (
        f"{path}: column 'relevance': missing required column "
        "(the file has: id, product_uid, product_title, search_term)"
    )


@pytest.mark.skipif(not REAL.is_file(), reason=f"the Home Depot data is not at {REAL}")
def test_real_file_reads_in_lenient_mode() -> None:
    data = read_homedepot(REAL)
    engaged = data.engaged()
    assert data.judgments.num_rows + len(data.rejections) == 59_299
    assert data.products.num_rows == 45_806
    assert engaged.num_rows > 27_000
    assert set(data.rejections.counts()) <= {"repeated (query, product) pair"}
