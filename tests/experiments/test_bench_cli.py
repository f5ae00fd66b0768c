"""`omnisage bench homedepot` end to end on a tiny CSV with tiny encoders: report, reuse on rerun, saved model,
a separate test file (`--test`).

The real Home Depot run (`benchmarks/bench_homedepot.py`) takes tens of minutes; this checks the plumbing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnisage.cli import main

from .conftest import homedepot_csv


def tiny_settings(encoder: Path) -> list[str]:
    settings = [
        f"model.query_encoder={encoder}",
        f"bench.legacy_encoder={encoder}",
        "model.dim=32",  # the tiny encoder's width: the legacy vectors are 32-d
        "model.mlp_hidden=16",
        "model.hash_buckets=256",
        "model.hash_dim=8",
        "model.vocab_min_count=1",
        "train.steps=2",
        "train.batch_size=8",
        "train.warmup_steps=1",
        "train.threads=1",
        "eval.corpus_size=12",
        "eval.bootstrap=50",
    ]
    return [arg for s in settings for arg in ("--set", s)]


@pytest.mark.slow
def test_bench_homedepot_end_to_end(
    csv_path: Path, tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    out, saved = tmp_path / "out", tmp_path / "saved_model"
    args = ["bench", "homedepot", "--data", str(csv_path), "--out", str(out), "--cache", str(tmp_path / "c")]
    args += ["--save-model", str(saved), "--no-progress", *tiny_settings(tiny_encoder_dir)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert (
        "Recall@10 on held-out queries" in printed and "rejected rows: 1 (1 missing product title)" in printed
    )
    report = json.loads((out / "report.json").read_text())
    assert report["command"].startswith("omnisage bench homedepot --data ")  # as passed to main, not sys.argv
    assert list(report["systems"]) == [
        "bm25",
        "bm25_enriched",
        "zero_shot",
        "omnisage",
        "omnisage-compat",
        "omnisage+bm25",
        "searchsage",
        "no_engaged_queries",
        "single_task",
    ]
    recall = {(r["system"], r["task"]): r["recall"] for r in report["recall"]}
    assert all(0.0 <= v <= 1.0 for v in recall.values())
    assert ("omnisage", "product") in recall and ("omnisage", "query") in recall
    assert "fused with BM25" in report["systems"]["omnisage+bm25"]
    assert report["sets"]["product"] == {"pairs": report["split"]["heldout_pairs"], "corpus": 12}
    assert report["training"]["searchsage"]["tasks"] == ["legacy_product_onsite"]
    assert report["training"]["single_task"]["tasks"] == ["product_onsite"]
    assert (out / "ranks.parquet").is_file() and (out / "world" / "rejected_rows.csv").is_file()
    # The relevance stage: every system on the held-out labels, and the two stages on the product pairs.
    systems = report["relevance"]["all"]
    assert {"mean", "bm25", "cosine", "teacher", "student_gold", "student"} <= set(systems)
    assert all(len(systems[s]["rmse"]) == 3 for s in ("teacher", "student"))  # value and 95% interval
    assert set(report["two_stage"]) >= {"first_stage", "student", "teacher"}
    assert 0.0 <= report["two_stage"]["student"]["recall10"][0] <= 1.0

    from omnisage.model.bundle import load_model

    model = load_model(saved)
    assert model.encode_queries(["cordless drill"]).shape == (1, 32)

    # A rerun reuses the world, the enrichment and every trained variant.
    summary = out / "variants" / "omnisage" / "train_summary.json"
    stamp = summary.stat().st_mtime_ns
    assert main(args) == 0
    assert summary.stat().st_mtime_ns == stamp
    # ... and so does one with other ranking or relevance settings: they do not change what was trained.
    assert main([*args, "--set", "bench.hybrid_weight=none", "--set", "bench.relevance=false"]) == 0
    assert summary.stat().st_mtime_ns == stamp
    # Other settings on the same output folder are refused with one line, not silently mixed.
    assert main([*args, "--set", "train.steps=3"]) == 2
    assert "was made with other settings" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_homedepot_with_a_test_file(csv_path: Path, tmp_path: Path, tiny_encoder_dir: Path) -> None:
    """`--test`: train on all of --data, evaluate on the test file's engaged pairs whose query is unseen."""
    test_csv = homedepot_csv(tmp_path / "test.csv")  # the same queries as training: all dropped ...
    with open(test_csv, "a", encoding="utf-8") as fh:  # ... but for these two unseen ones
        fh.write("100,5000,Garden hose 50 ft,garden hose,3\n101,1001,Drill model 1,drill for concrete,2.67\n")
    out = tmp_path / "out"
    args = ["bench", "homedepot", "--data", str(csv_path), "--test", str(test_csv), "--out", str(out)]
    args += ["--cache", str(tmp_path / "c"), "--no-progress", *tiny_settings(tiny_encoder_dir)]
    settings = ["bench.variants=omnisage", "bench.baselines=bm25", "bench.relevance=false"]
    assert main([*args, *(arg for s in settings for arg in ("--set", s))]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "relevance" not in report and "two_stage" not in report and not (out / "relevance").exists()
    assert report["split"]["heldout_queries"] == 2 and report["split"]["heldout_pairs"] == 2
    assert report["split"]["test_products_added_to_catalog"] == 1
    assert report["sets"]["product"]["pairs"] == 2
    assert {r["system"] for r in report["recall"]} == {"bm25", "omnisage", "omnisage-compat", "omnisage+bm25"}
