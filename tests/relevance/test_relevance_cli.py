"""`omnisage relevance` end to end on a small synthetic world: teacher, silver, students, report; a rerun reuses
every finished stage; labels from another world are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.relevance.silver import read_silver

from ..tiny_bert import write_tiny_bert


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("relevance")
    world = str(root / "world")
    assert main(["synth", "--out", world, "--scale", "400", "--seed", "3", "--config", "tiny"]) == 0
    assert main(["enrich", "--data", world, "--as-of", "2024-06-16", "--out", str(root / "enriched"),
                 "--no-progress"]) == 0  # fmt: skip
    argv = ["train", "--data", world, "--enriched", str(root / "enriched"), "--out", str(root / "run")]
    assert main([*argv, "--config", "tiny", "--set", "train.steps=10", "--no-progress"]) == 0
    write_tiny_bert(root / "bert")
    return root


def _argv(root: Path, out: Path) -> list[str]:
    return [
        "relevance", "--data", str(root / "world"), "--enriched", str(root / "enriched"),
        "--model", str(root / "run" / "model"), "--out", str(out),
        "--eval-labels", str(root / "world" / "truth" / "relevance_eval.parquet"),
        "--set", f"relevance.teacher_encoder={root / 'bert'}", "--set", "relevance.student_epochs=3",
        "--no-progress",
    ]  # fmt: skip


@pytest.mark.slow
def test_relevance_end_to_end_then_reused(trained: Path, capsys) -> None:
    out = trained / "out"
    assert main(_argv(trained, out)) == 0
    printed = capsys.readouterr().out
    assert "student_gold: rmse" in printed and " - " not in printed.split("ok:")[0]
    report = json.loads((out / "report.json").read_text())
    assert set(report["all"]) >= {"mean", "bm25", "cosine", "teacher", "student_gold", "student"}
    assert set(report["by_lang"]) == {"en", "es", "fr", "de"}
    for metrics in report["all"].values():
        assert all(low <= value <= high or low != low for value, low, high in metrics.values())
    silver = read_silver(out / "silver")
    held = set(
        pq.read_table(trained / "world" / "truth" / "relevance_eval.parquet").column("query_text").to_pylist()
    )
    assert silver.num_rows > 0 and not held & set(silver.column("query_text").to_pylist())
    gold = pq.read_table(trained / "world" / "relevance_labels.parquet")
    gold_keys = set(zip(*(gold.column(c).to_pylist() for c in ("query_text", "entity_type", "entity_id"))))
    assert not gold_keys & set(
        zip(*(silver.column(c).to_pylist() for c in ("query_text", "entity_type", "entity_id")))
    )
    # Languages without human labels get silver labels: the first stage's candidates of every query.
    langs = dict(zip(*(pq.read_table(trained / "world" / "queries.parquet").column(c).to_pylist()
                       for c in ("query_text", "lang"))))  # fmt: skip
    assert {langs[q] for q in silver.column("query_text").to_pylist()} > {"en"}

    stamp = (out / "student" / "student.json").stat().st_mtime_ns
    assert main(_argv(trained, out)) == 0  # every stage is reused
    assert (out / "student" / "student.json").stat().st_mtime_ns == stamp
    assert "teacher: 0 steps" not in capsys.readouterr().out
    # Other student settings: the teacher and the silver labels are reused, the students are trained again.
    argv = [a.replace("student_epochs=3", "student_epochs=2") for a in _argv(trained, out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "student: " in printed and "training it again" in printed and "reusing it" in printed
    assert (out / "student" / "student.json").stat().st_mtime_ns != stamp


def test_labels_of_items_the_enriched_table_lacks_are_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    world = tmp_path / "w"
    assert main(["synth", "--out", str(world), "--scale", "200", "--seed", "9", "--config", "tiny"]) == 0
    assert main(["enrich", "--data", str(world), "--as-of", "2024-06-16", "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 0  # fmt: skip
    argv = _argv(trained, tmp_path / "out")
    argv[argv.index("--enriched") + 1] = str(tmp_path / "e")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("omnisage relevance: error: ")
        and "\n" not in err
        and "enriched table does not have" in err
    )
