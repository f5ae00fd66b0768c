"""Reports: the JSON holds the hand-checkable recalls, the Markdown shows them, the files are all written."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from omnisage.config import EvalConfig
from omnisage.eval.baselines import RandomSystem
from omnisage.eval.evaluate import evaluate_systems
from omnisage.eval.plots import plot_training
from omnisage.eval.protocol import load_eval_sets
from omnisage.eval.report import evaluation_report, write_evaluation
from omnisage.eval.systems import model_system

CFG = EvalConfig(bootstrap=100)


def test_report_files_and_numbers(toy_world, keyword_model, tmp_path) -> None:
    data, entities = toy_world
    sets, windows = load_eval_sets(data, entities, CFG)
    systems = [model_system(keyword_model, "keyword"), RandomSystem()]
    ev = evaluate_systems(systems, sets, windows, CFG)
    report, table = evaluation_report(ev, CFG, command="omnisage evaluate --toy")
    paths = write_evaluation(tmp_path / "out", report, table)
    assert sorted(p.name for p in paths) == [
        "ranks.parquet",
        "recall_by_language.png",
        "recall_vs_corpus.png",
        "report.json",
        "report.md",
    ]
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    pin_all = next(
        r for r in saved["recall"] if (r["system"], r["task"], r["slice"]) == ("keyword", "pin", "all")
    )
    assert pin_all["recall"] == pytest.approx(0.75)
    assert saved["sets"]["pin"] == {
        "pairs": 40,
        "corpus": 40,
        "by_action": {"save": 40},
        "dropped": {"not_in_catalog": 1},
    }
    gain = next(g for g in saved["gains"] if (g["task"], g["action"]) == ("pin", "all"))
    assert gain["baseline"] == "random" and gain["gain"] > 0
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "omnisage evaluate --toy" in markdown and "| query → pin | all | 40 | 0.750 (" in markdown
    assert pq.read_table(tmp_path / "out" / "ranks.parquet").num_rows == 40 + 10 + 1


def test_training_curves_plot(tmp_path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text(
        "\n".join(json.dumps({"step": s, "loss": 5.0 / (s + 1), "loss/pin": 1.0}) for s in range(20))
        + "\nnot json\n"
    )
    assert plot_training({"run": log}, tmp_path / "curves.png").is_file()
    assert plot_training({"missing": tmp_path / "nope.jsonl"}, tmp_path / "none.png") is None
