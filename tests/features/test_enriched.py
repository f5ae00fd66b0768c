"""The enriched entity table on the hand-made world (every value computed by hand), the leakage guard, bad
input, the incremental state through `omnisage enrich --state`, and atomic outputs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.config import EnrichConfig
from omnisage.features import enriched
from omnisage.features.enriched import OUTPUT, parse_as_of, run_enrich
from omnisage.schema import ENRICHED_ENTITIES

from .tiny_world import AS_OF, tiny_tables, write_world


def _rows(out: Path) -> dict[str, dict]:
    return {r["entity_id"]: r for r in pq.read_table(out / OUTPUT).to_pylist()}


def _cli(*args: str, config: Path) -> int:
    return main(["enrich", *args, "--config", str(config)])


@pytest.fixture
def empty_preset(tmp_path: Path) -> Path:
    path = tmp_path / "preset.toml"
    path.write_text("")
    return path


def test_tiny_world_by_hand(tiny_world, tmp_path):
    report = run_enrich(tiny_world, AS_OF, tmp_path / "out", EnrichConfig())
    table = pq.read_table(tmp_path / "out" / OUTPUT)
    assert table.schema.equals(ENRICHED_ENTITIES)
    rows = _rows(tmp_path / "out")
    assert list(rows) == ["p1", "p2", "p3", "p4", "d1", "d2"]
    assert rows["p1"] == {
        "entity_type": "pin",
        "entity_id": "p1",
        "lang": "en",
        "title": "Chocolate chip cookies",
        "description": "Soft and chewy",
        "caption": "a plate of cookies",
        "brand": None,
        "color": None,
        # 4 kept boards: scores 1 - (2/4)(5/8), 1 - (1/4)(3/4), 1 - (1/4)(1/4)
        "board_titles": ["christmas cookies", "cookies", "desserts 🍪"],
        # cookies: 2 saves + 1 long click; chocolate cookies: 3 clicks · 0.25 (the one 800 days ago is out)
        "engaged_queries": ["cookies", "chocolate cookies"],
        "engaged_query_scores": [3.0, 0.75],
        "legacy_vector": [1.0, 0.0, 0.0, 0.0],
        "image_vector": [0.5, 0.5, 0.0],
    }
    assert rows["p2"]["board_titles"] == ["cookies"] and rows["p2"]["engaged_query_scores"] == [0.25]
    assert rows["p4"]["title"] is None and rows["p4"]["caption"] is None  # blank text is no text
    assert rows["d1"]["brand"] == "Acme" and rows["d1"]["engaged_queries"] == ["red kettle"]
    assert rows["d1"]["engaged_query_scores"] == [5.0] and rows["d1"]["image_vector"] is None
    assert rows["d2"]["engaged_queries"] == [] and rows["d2"]["board_titles"] == []

    assert report["entities"] == {"pin": 4, "product": 2}
    assert report["coverage"]["pin"]["board_titles"] == 0.5
    assert report["coverage"]["all"]["engaged_queries"] == 0.5
    assert report["coverage"]["product"]["title_or_description"] == 1.0
    assert report["inputs"] == {
        "engagements": 13,
        "engagements_in_window": 9,
        "engagements_before_window": 1,
        "engagements_after_as_of_ignored": 2,
        "query_engagements_ignored": 1,
        "board_saves": 9,
        "board_saves_after_as_of_ignored": 1,
        "boards_dropped_noisy_title": 3,  # "My stuff", null, control characters only
        "engaged_entities_unknown_ignored": 0,
    }
    assert json.loads((tmp_path / "out" / "coverage.json").read_text())["coverage"] == report["coverage"]


def _strings(table: pa.Table) -> set[str]:
    found: set[str] = set()
    for row in table.to_pylist():
        for value in row.values():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    found.update({v, *v.split()})
    return found


def test_leakage_guard_nothing_after_the_cutoff_reaches_any_feature(tmp_path):
    tables = tiny_tables()
    # Every pin and product gets engagements and board saves after the cutoff, with strings seen nowhere else.
    e, s, b = tables["engagements"], tables["board_saves"], tables["boards"]
    for i, (kind, entity) in enumerate(
        [("pin", p) for p in tables["pins"]["pin_id"]] + [("product", "d1"), ("product", "d2")]
    ):
        for j, delta in enumerate((timedelta(0), timedelta(microseconds=1), timedelta(days=400))):
            q = f"leak{i}x{j}"
            tables["queries"]["query_text"].append(q)
            for col, v in zip(
                ("query_text", "entity_type", "entity_id", "action", "ts"),
                (q, kind, entity, "save", AS_OF + delta),
            ):
                e[col].append(v)
        if kind == "pin":
            b["board_id"].append(f"late{i}")
            b["title"].append(f"leakboard{i}")
            b["owner"].append("u")
            s["board_id"].append(f"late{i}")
            s["pin_id"].append(entity)
            s["ts"].append(AS_OF)
    world = write_world(tmp_path / "world", tables)
    run_enrich(world, AS_OF, tmp_path / "out", EnrichConfig())
    seen = _strings(pq.read_table(tmp_path / "out" / OUTPUT)) | _strings(
        pq.read_table(tmp_path / "out" / "engaged_queries.parquet")
    )
    assert not {x for x in seen if x.startswith("leak")}
    # The same world one day later: the rows at the cutoff and just after it are now in the past and show up.
    run_enrich(world, AS_OF + timedelta(days=1), tmp_path / "later", EnrichConfig())
    later = _strings(pq.read_table(tmp_path / "later" / OUTPUT))
    assert {"leak0x0", "leak0x1", "leakboard0"} <= later and "leak0x2" not in later


def test_empty_or_missing_logs_give_empty_features(tiny_world, tmp_path):
    (tiny_world / "engagements.parquet").unlink()
    (tiny_world / "board_saves.parquet").unlink()
    report = run_enrich(tiny_world, AS_OF, tmp_path / "out", EnrichConfig())
    assert (
        report["coverage"]["all"]["engaged_queries"] == 0 and report["coverage"]["all"]["board_titles"] == 0
    )
    empty = pa.table(
        {c: pa.array([], pa.string()) for c in ("query_text", "entity_type", "entity_id", "action")}
    )
    pq.write_table(
        empty.append_column("ts", pa.array([], pa.timestamp("us", tz="UTC"))),
        tiny_world / "engagements.parquet",
    )
    report = run_enrich(tiny_world, AS_OF, tmp_path / "out2", EnrichConfig())
    assert report["inputs"]["engagements"] == 0 and _rows(tmp_path / "out2")["p1"]["engaged_queries"] == []


def test_bad_input_is_one_clear_line(tiny_world, tmp_path, empty_preset, capsys):
    out = str(tmp_path / "out")
    assert _cli("--data", str(tiny_world), "--as-of", "last tuesday", "--out", out, config=empty_preset) == 2
    assert "--as-of: expected an ISO 8601" in capsys.readouterr().err
    tables = tiny_tables()
    tables["engagements"]["entity_id"][0] = "p404"  # an engagement on a pin that does not exist
    world = write_world(tmp_path / "bad", tables)
    assert _cli("--data", str(world), "--as-of", "2024-07-01", "--out", out, config=empty_preset) == 2
    err = capsys.readouterr().err
    assert "'p404' does not exist in pins" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / OUTPUT).exists()


def test_parse_as_of():
    assert parse_as_of("2024-07-01") == AS_OF
    assert parse_as_of("2024-07-01T02:00:00+02:00") == AS_OF
    assert parse_as_of("2024-07-01T00:00:00Z") == AS_OF


def test_cli_state_updates_equal_a_recompute(tiny_world, tmp_path, empty_preset, capsys):
    state = str(tmp_path / "state.parquet")
    for day in ("2024-06-20", "2024-06-25", "2024-07-01"):
        args = ("--data", str(tiny_world), "--as-of", day, "--out", str(tmp_path / "inc"), "--state", state)
        assert _cli(*args, config=empty_preset) == 0
    printed = capsys.readouterr().out
    assert "state built from the whole window" in printed and "incremental update" in printed
    assert (
        _cli(
            "--data",
            str(tiny_world),
            "--as-of",
            "2024-07-01",
            "--out",
            str(tmp_path / "full"),
            config=empty_preset,
        )
        == 0
    )
    assert pq.read_table(tmp_path / "inc" / OUTPUT).equals(pq.read_table(tmp_path / "full" / OUTPUT))
    # Going back in time is refused.
    assert (
        _cli(
            "--data",
            str(tiny_world),
            "--as-of",
            "2024-06-01",
            "--out",
            str(tmp_path / "x"),
            "--state",
            state,
            config=empty_preset,
        )
        == 2
    )


def test_a_failed_run_leaves_the_previous_output(tiny_world, tmp_path, monkeypatch):
    run_enrich(tiny_world, AS_OF, tmp_path / "out", EnrichConfig())
    before = (tmp_path / "out" / OUTPUT).read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(enriched, "coverage", broken)
    with pytest.raises(RuntimeError):
        run_enrich(tiny_world, AS_OF + timedelta(days=1), tmp_path / "out", EnrichConfig())
    assert (tmp_path / "out" / OUTPUT).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "coverage.json",
        "engaged_queries.parquet",
        OUTPUT,
    ]


def test_generated_world_agrees_with_the_generators_own_counts(tmp_path):
    from omnisage.config import SynthConfig
    from omnisage.synth.world import generate_world

    summary = generate_world(SynthConfig(pins=300, seed=3), tmp_path / "world")["coverage"]
    log_end = parse_as_of(json.loads((tmp_path / "world" / "world.json").read_text())["log_end"])
    report = run_enrich(tmp_path / "world", log_end, tmp_path / "out", EnrichConfig())
    got = report["coverage"]
    # The generator counts engaged items and texts its own way; at the end of its logs both must agree.
    assert got["pin"]["engaged_queries"] == summary["pins_with_engaged_queries"]
    assert got["product"]["engaged_queries"] == summary["products_with_engaged_queries"]
    assert got["all"]["title_or_description"] == summary["items_with_text"]
    # Noisy titles ("stuff", emoji only) are dropped, so fewer pins keep board titles than are in boards.
    assert 0.5 < got["pin"]["board_titles"] <= summary["pins_with_board_titles"] <= summary["pins_in_boards"]
    assert got["all"]["caption"] == 1.0 and report["inputs"]["engagements_after_as_of_ignored"] == 0
