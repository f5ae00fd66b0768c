"""`omnisage evaluate` end to end on the toy world (baselines only), and its one-line errors."""

from __future__ import annotations

import json

from omnisage.cli import main
from omnisage.data.io import write_table


def test_evaluate_writes_a_report(toy_world, tmp_path, capsys) -> None:
    data, entities = toy_world
    write_table(entities, data / "enriched_entities.parquet")
    out = tmp_path / "report"
    code = main(["evaluate", "--data", str(data), "--baselines", "random,bm25", "--out", str(out),
                 "--set", "eval.bootstrap=50", "--readme", str(tmp_path / "README.md")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| query → pin | save | 40 |" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["systems"] == ["random", "bm25"] and report["config"]["bootstrap"] == 50
    assert (out / "report.md").is_file() and (out / "recall_vs_corpus.png").is_file()
    readme = (tmp_path / "README.md").read_text()
    assert "## Results" in readme and "| query → pin | save | 40 |" in readme


def test_evaluate_errors_are_one_line(toy_world, tmp_path, capsys) -> None:
    data, entities = toy_world
    assert main(["evaluate", "--data", str(data), "--baselines", "bm25", "--out", str(tmp_path)]) == 2
    assert "no enriched entity table: pass --enriched" in capsys.readouterr().err
    write_table(entities, data / "enriched_entities.parquet")
    assert main(["evaluate", "--data", str(data), "--baselines", "bm26", "--out", str(tmp_path)]) == 2
    assert (
        "unknown baseline ['bm26'] (known: random, bm25, bm25_enriched, zero_shot)" in capsys.readouterr().err
    )
    assert (
        main(["evaluate", "--data", str(data), "--model", str(tmp_path / "nope"), "--out", str(tmp_path)])
        == 2
    )
    assert "model bundle not found" in capsys.readouterr().err


def test_no_progress_silences_every_bar_of_the_run(toy_world, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OMNISAGE_PROGRESS", "1")  # captured stderr is not a terminal: force the bars
    data, entities = toy_world
    write_table(entities, data / "enriched_entities.parquet")
    args = ["evaluate", "--data", str(data), "--baselines", "random,bm25", "--set", "eval.bootstrap=20"]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert "ranking" not in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # the switch does not outlive its run
    assert "ranking" in capsys.readouterr().err  # the evaluation's own bars
