"""Data contracts: every bad-input kind gets a one-line error naming file, row and column (asserted verbatim)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.data.io import read_table, write_table
from omnisage.data.validate import load_world, validate_world
from omnisage.errors import DataError
from omnisage.schema import BOARD_SAVES, ENGAGEMENTS, LEGACY_EMBEDDINGS, PINS, TIMESTAMP

PINS_CSV = "pin_id,title,description,lang\np1,Blue sofa,cozy,en\np2,,,fr\n"
BOARDS_CSV = "board_id,title,owner\nb1,Living room,u1\n"
SAVES_CSV = "board_id,pin_id,ts\nb1,p1,2024-03-01T10:00:00Z\nb1,p2,1709287200\n"
ENG_CSV = (
    "query_text,entity_type,entity_id,action,ts\n"
    "blue sofa,pin,p1,save,2024-03-02T10:00:00Z\n"
    "canapé bleu,pin,p2,long_click,2024-03-02 11:00:00\n"
)

ENG_ROW = {"query_text": "sofa", "entity_type": "pin", "entity_id": "p1", "action": "save"}


def write(dirpath: Path, name: str, text: str | bytes) -> Path:
    path = dirpath / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def world(tmp_path: Path) -> Path:
    write(tmp_path, "pins.csv", PINS_CSV)
    write(tmp_path, "boards.csv", BOARDS_CSV)
    write(tmp_path, "board_saves.csv", SAVES_CSV)
    write(tmp_path, "engagements.csv", ENG_CSV)
    return tmp_path


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_valid_world_counts_and_types(world: Path) -> None:
    w = load_world(world)
    assert w.counts() == {"pins": 2, "boards": 1, "board_saves": 2, "engagements": 2}
    assert w["board_saves"].schema.field("ts").type == TIMESTAMP
    # epoch seconds and a zone-less ISO string are both read as UTC
    assert str(w["board_saves"].column("ts")[1].as_py()) == "2024-03-01 10:00:00+00:00"
    assert str(w["engagements"].column("ts")[1].as_py()) == "2024-03-02 11:00:00+00:00"
    # an empty optional cell is a null, not an empty string
    assert w["pins"].column("title")[1].as_py() is None


def test_same_table_from_parquet_csv_and_jsonl_is_identical(tmp_path: Path) -> None:
    csv = read_table(write(tmp_path, "pins.csv", PINS_CSV), PINS)
    rows = [
        {"pin_id": "p1", "title": "Blue sofa", "description": "cozy", "lang": "en"},
        {"pin_id": "p2", "lang": "fr"},
    ]
    jsonl = read_table(write(tmp_path, "pins.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n"), PINS)
    written = write_table(csv, tmp_path / "pins.parquet")
    parquet = read_table(written, PINS)
    assert csv.equals(jsonl) and csv.equals(parquet)
    # the atomic temp-file write still gives the permissions of a plain create, and leaves no temp file behind
    umask = os.umask(0)
    os.umask(umask)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "pins.csv", "title,lang\nBlue sofa,en\n")
    assert error_of(read_table, path, PINS) == (
        f"{path}: column 'pin_id': missing required column (the file has: title, lang)"
    )


def test_mistyped_column(tmp_path: Path) -> None:
    table = pa.table({"query_text": ["a"], "lang": ["en"], "volume": ["many"]})
    path = tmp_path / "queries.parquet"
    pq.write_table(table, path)
    from omnisage.schema import QUERIES

    assert (
        error_of(read_table, path, QUERIES)
        == f"{path}: row 1, column 'volume': expected an integer, got 'many'"
    )
    pq.write_table(pa.table({"pin_id": ["p1"], "title": [1.5]}), path)
    assert (
        error_of(read_table, path, PINS)
        == f"{path}: column 'title': expected text, found a column of type double"
    )


def test_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "pins.csv", "pin_id,title\np1,a\np2,b\np1,c\n")
    assert (
        error_of(read_table, path, PINS)
        == f"{path}: row 3, column 'pin_id': duplicate key pin_id='p1' (first at row 1)"
    )
    saves = write(tmp_path, "board_saves.csv", "board_id,pin_id,ts\nb1,p1,1\nb1,p1,2\n")
    assert "row 2, column 'pin_id': duplicate key board_id='b1', pin_id='p1'" in error_of(
        read_table, saves, BOARD_SAVES
    )


def test_wrong_vector_dimension(tmp_path: Path) -> None:
    rows = [
        {"entity_type": "pin", "entity_id": "p1", "vector": [0.1, 0.2, 0.3]},
        {"entity_type": "pin", "entity_id": "p2", "vector": [0.1, 0.2]},
    ]
    path = write(tmp_path, "legacy_embeddings.jsonl", "\n".join(json.dumps(r) for r in rows))
    assert error_of(read_table, path, LEGACY_EMBEDDINGS) == (
        f"{path}: row 2, column 'vector': vector has 2 dimensions, expected 3"
    )
    assert error_of(read_table, path, LEGACY_EMBEDDINGS, vector_dim=2) == (
        f"{path}: row 1, column 'vector': vector has 3 dimensions, expected 2"
    )
    ok = read_table(
        write(tmp_path, "ok.csv", 'entity_type,entity_id,vector\npin,p1,"[1, 2]"\n'), LEGACY_EMBEDDINGS
    )
    assert ok.schema.field("vector").type == pa.list_(pa.float32(), 2)


def test_unknown_action_and_action_not_valid_for_type(tmp_path: Path) -> None:
    path = write(tmp_path, "engagements.csv", ENG_CSV + "sofa,pin,p1,like,2024-03-03T00:00:00Z\n")
    assert error_of(read_table, path, ENGAGEMENTS) == (
        f"{path}: row 3, column 'action': unknown action 'like' "
        "(expected one of: save, long_click, click, add_to_cart, checkout)"
    )
    path = write(tmp_path, "engagements.csv", ENG_CSV + "sofa,pin,p1,checkout,2024-03-03T00:00:00Z\n")
    assert error_of(read_table, path, ENGAGEMENTS) == (
        f"{path}: row 3, column 'action': action 'checkout' is not valid for entity_type 'pin' "
        "(expected one of: save, long_click, click)"
    )


def test_invalid_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, "engagements.csv", ENG_CSV + "sofa,pin,p1,save,yesterday\n")
    assert error_of(read_table, path, ENGAGEMENTS) == (
        f"{path}: row 3, column 'ts': invalid timestamp (expected ISO 8601 or epoch seconds), got 'yesterday'"
    )
    path = write(tmp_path, "engagements.csv", ENG_CSV + "sofa,pin,p1,save,\n")
    assert (
        error_of(read_table, path, ENGAGEMENTS)
        == f"{path}: row 3, column 'ts': empty value in a required column"
    )


def test_timestamps_outside_1970_2200_are_refused_with_a_unit_hint(tmp_path: Path) -> None:
    """Epoch milliseconds given as seconds land in the year 56,000: they used to pass validation, make enrich
    ignore every engagement and crash train with a traceback."""
    path = write(tmp_path, "engagements.csv", ENG_CSV + "sofa,pin,p1,save,1709287200000\n")
    assert error_of(read_table, path, ENGAGEMENTS) == (
        f"{path}: row 3, column 'ts': timestamp '1709287200000' is outside the years 1970-2200; "
        "it looks like epoch milliseconds: convert to seconds (divide by 1,000)"
    )
    path = write(tmp_path, "engagements.jsonl", json.dumps(ENG_ROW | {"ts": 1709287200000000}) + "\n")
    assert error_of(read_table, path, ENGAGEMENTS).endswith(
        "row 1, column 'ts': timestamp 1709287200000000 is outside the years 1970-2200; "
        "it looks like epoch microseconds: convert to seconds (divide by 1,000,000)"
    )  # as seconds this would not even fit a 64-bit microsecond timestamp
    for bad, shown in (("2500-01-01", "'2500-01-01'"), ("-5", "'-5'")):
        path = write(tmp_path, "board_saves.csv", SAVES_CSV + f"b1,p1,{bad}\n")
        assert error_of(read_table, path, BOARD_SAVES) == (
            f"{path}: row 3, column 'ts': timestamp {shown} is outside the years 1970-2200"
        )


def test_a_typed_timestamp_column_in_the_wrong_unit_is_refused(tmp_path: Path) -> None:
    ms = pa.array([1709287200000], pa.int64()).cast(pa.timestamp("s", tz="UTC"))  # ms stored as seconds
    table = pa.table({"board_id": ["b1"], "pin_id": ["p1"], "ts": ms})
    pq.write_table(table, tmp_path / "board_saves.parquet")
    assert (
        "row 1, column 'ts': timestamp 1709287200000 is outside the years 1970-2200; it looks like epoch "
        "milliseconds" in error_of(read_table, tmp_path / "board_saves.parquet", BOARD_SAVES)
    )


def test_cli_validate_enrich_and_train_refuse_epoch_milliseconds_in_one_line(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write(world, "engagements.csv", ENG_CSV + "sofa,pin,p1,save,1709287200000\n")
    commands = (
        ["validate", str(world)],
        ["enrich", "--data", str(world), "--as-of", "2024-06-01", "--out", str(tmp_path / "enriched")],
        ["train", "--data", str(world), "--out", str(tmp_path / "train"), "--config", "tiny"],
    )
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "looks like epoch milliseconds" in err, err
        assert err.startswith(f"omnisage {argv[0]}: error: {world / 'engagements.csv'}: row 3, column 'ts'")


def test_non_utf8_text(tmp_path: Path) -> None:
    path = write(tmp_path, "pins.csv", b"pin_id,title\np1,ok\np2,caf\xe9\n")
    assert error_of(read_table, path, PINS) == f"{path}: row 2, column 'title': text is not valid UTF-8"
    path = write(tmp_path, "pins.jsonl", b'{"pin_id": "p1"}\n{"pin_id": "p2", "title": "caf\xe9"}\n')
    assert error_of(read_table, path, PINS) == f"{path}: row 2, column 'title': text is not valid UTF-8"


def test_dangling_foreign_key(world: Path) -> None:
    write(world, "board_saves.csv", SAVES_CSV + "b1,p9,2024-03-01T10:00:00Z\n")
    assert error_of(load_world, world) == (
        f"{world / 'board_saves.csv'}: row 3, column 'pin_id': 'p9' does not exist in pins (dangling reference)"
    )


def test_dangling_typed_reference_and_missing_table(world: Path) -> None:
    write(world, "engagements.csv", ENG_CSV + "lamp,product,x1,add_to_cart,2024-03-03T00:00:00Z\n")
    assert error_of(load_world, world) == (
        f"{world / 'engagements.csv'}: column 'entity_id': rows refer to table 'products', which is missing from {world}"
    )


def test_unknown_entity_type(world: Path) -> None:
    write(world, "engagements.csv", ENG_CSV + "lamp,board,b1,click,2024-03-03T00:00:00Z\n")
    message = error_of(load_world, world)
    assert message.endswith(
        "row 3, column 'entity_type': unknown entity_type 'board' (expected one of: pin, product, query)"
    )


def test_cli_validate_prints_counts_and_exits_2_on_bad_input(
    world: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["validate", str(world)]) == 0
    out = capsys.readouterr().out
    assert "engagements" in out and "2 rows" in out and "ok: 4 tables valid" in out
    write(world, "pins.csv", PINS_CSV + "p1,dup,,en\n")
    assert main(["validate", str(world)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert (
        err
        == f"omnisage validate: error: {world / 'pins.csv'}: row 3, column 'pin_id': duplicate key pin_id='p1' (first at row 1)"
    )


def test_no_items_table(tmp_path: Path) -> None:
    write(tmp_path, "boards.csv", BOARDS_CSV)
    assert error_of(validate_world, tmp_path) == (
        f"{tmp_path}: no pins or products table found (expected e.g. pins.parquet or products.csv)"
    )


def _labelled_world(tmp_path, manifest: dict | None, labels: list[float]):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    world = tmp_path / "w"
    world.mkdir(parents=True)
    pq.write_table(
        pa.table({"product_id": ["a", "b"], "title": ["red mug", "blue bowl"]}), world / "products.parquet"
    )
    n = len(labels)
    pq.write_table(
        pa.table({
            "query_text": [f"q{i}" for i in range(n)], "entity_type": ["product"] * n,
            "entity_id": ["a"] * n, "label": labels,
        }),
        world / "relevance_labels.parquet",
    )  # fmt: skip
    if manifest is not None:
        (world / "world.json").write_text(json.dumps(manifest), encoding="utf-8")
    return world


def test_relevance_labels_need_a_declared_scale(tmp_path):
    from omnisage.data.validate import validate_world
    from omnisage.errors import DataError

    with pytest.raises(DataError, match='need their scale: declare "relevance_scale"'):
        validate_world(_labelled_world(tmp_path, None, [1.0, 2.0]))


def test_relevance_labels_must_lie_on_the_scale(tmp_path):
    from omnisage.data.validate import validate_world
    from omnisage.errors import DataError

    levels = {"relevance_scale": {"levels": [1, 2, 3, 4, 5]}}
    assert validate_world(_labelled_world(tmp_path / "ok", levels, [1.0, 5.0]))["relevance_labels"] == 2
    with pytest.raises(DataError, match=r"row 2, column 'label': label 2.5 is not on the declared scale"):
        validate_world(_labelled_world(tmp_path / "bad", levels, [1.0, 2.5]))
    mean = {"relevance_scale": {"kind": "mean", "low": 1, "high": 3}}
    with pytest.raises(DataError, match=r"label 3.5 is not on the declared scale \(a number in \[1, 3\]\)"):
        validate_world(_labelled_world(tmp_path / "mean", mean, [2.33, 3.5]))
