"""The sentence-transformers peer of `omnisage bench`: its training pairs are the training split's engaged pairs
(checked against the CSV by hand), the benchmark ranks it and reports every system's paired difference to it,
a rerun reuses it, and without the `bench` extra it stops with one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.config import load_config
from omnisage.data.homedepot import read_homedepot
from omnisage.experiments.peer import peer_pairs
from omnisage.experiments.product_search import prepare_world, variant_config
from omnisage.experiments.split import split_by_query
from omnisage.experiments.variants import Variant

from .test_bench_cli import tiny_settings

PEER_SETTINGS = ["--set", "bench.variants=single_task", "--set", "bench.baselines=sentence_transformers,bm25"]


def _bench_args(csv_path: Path, tmp_path: Path, encoder: Path) -> list[str]:
    out = tmp_path / "out"
    args = ["bench", "homedepot", "--data", str(csv_path), "--out", str(out), "--cache", str(tmp_path / "c")]
    return [*args, "--no-progress", *tiny_settings(encoder), *PEER_SETTINGS]


def test_peer_trains_on_the_training_splits_engaged_pairs(
    csv_path: Path, tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    overrides = [s for s in tiny_settings(tiny_encoder_dir) if s != "--set"]
    config = load_config("bench", overrides)
    data = read_homedepot(csv_path)
    split = split_by_query(data, config.bench.eval_share, config.bench.seed)
    world, enriched, dim, _ = prepare_world(
        split, tmp_path / "out", config, tmp_path / "c", progress=False, log=lambda _: None
    )
    peer_config = variant_config("bench", overrides, Variant("peer", (), (), ""), split, dim)
    queries, texts = peer_pairs(
        pq.read_table(world / "engagements.parquet"), pq.read_table(enriched), peer_config
    )

    # The oracle, from the CSV itself: relevance >= 2.67 and a query that is not held out; the product's title.
    heldout = set(split.heldout.column("query_text").to_pylist())
    expected = set()
    for line in csv_path.read_text().splitlines()[1:]:
        _, product, title, query, relevance = line.split(",")
        if title and float(relevance) >= 2.67 and query not in heldout:
            expected.add((query, product))
    titles = dict(zip(*(data.products.column(c).to_pylist() for c in ("product_id", "title"))))
    assert heldout and len(expected) == split.about["training_engaged_pairs"]
    assert sorted(zip(queries, texts)) == sorted((q, titles[p]) for q, p in expected)


@pytest.mark.slow
def test_bench_ranks_the_peer_and_reports_differences_to_it(
    csv_path: Path, tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    args = _bench_args(csv_path, tmp_path, tiny_encoder_dir)
    assert main(args) == 0
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert list(report["systems"]) == ["sentence_transformers", "bm25", "single_task"]
    assert "MultipleNegativesRankingLoss" in report["systems"]["sentence_transformers"]
    recall = {(r["system"], r["task"]): r["recall"] for r in report["recall"]}
    assert ("sentence_transformers", "product") in recall and ("sentence_transformers", "query") in recall

    # Every other system minus the peer, per task: the point is the difference of the recall rows.
    versus = report["versus"]
    assert versus["reference"] == "sentence_transformers"
    found = {(d["system"], d["task"]): d for d in versus["differences"]}
    assert {("single_task", "product"), ("bm25", "product")} <= set(found)
    for (system, task), d in found.items():
        assert d["difference"] == pytest.approx(
            recall[(system, task)] - recall[("sentence_transformers", task)]
        )
        assert d["ci_low"] <= d["difference"] <= d["ci_high"]
    assert "minus sentence_transformers's (paired bootstrap" in (out / "report.md").read_text()

    # Its training is in the report (time and summary) and cached in OUT; a rerun reuses it.
    training = report["training"]["sentence_transformers"]
    assert training["pairs"] == report["split"]["training_engaged_pairs"] and training["epochs"] == 1
    assert report["seconds"]["train:sentence_transformers"] > 0
    summary = out / "baselines" / "sentence_transformers" / "train_summary.json"
    stamp = summary.stat().st_mtime_ns
    assert main(args) == 0
    assert summary.stat().st_mtime_ns == stamp
    again = json.loads((out / "report.json").read_text())
    assert again["recall"] == report["recall"]


def test_missing_extra_is_one_line(
    csv_path: Path, tmp_path: Path, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # `import sentence_transformers` fails
    assert main(_bench_args(csv_path, tmp_path, tiny_encoder_dir)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'omnisage[bench]'" in err
    assert not (tmp_path / "out" / "variants").exists()  # stopped before any variant trained


def test_the_peer_starts_where_the_zero_shot_baseline_is(tiny_encoder_dir: Path) -> None:
    """Untrained, sentence-transformers' view of the starting folder (mean pooling, unit vectors) encodes queries
    and product text as our zero-shot encoder does: the peer differs from zero-shot by its fine-tuning only."""
    import numpy as np
    import pyarrow as pa

    from omnisage.eval.baselines import MeanPoolEncoder
    from omnisage.experiments.peer import peer_system

    texts = ["cordless drill", "Drill model 1 drill driver kit . 18V", "white paint gallon"]
    peer = peer_system(tiny_encoder_dir, ("title", "brand"))
    ours = MeanPoolEncoder(str(tiny_encoder_dir))(texts)
    rows = pa.table({"title": ["cordless drill", "Drill model 1 drill driver kit"], "brand": [None, "18V"]})
    np.testing.assert_allclose(peer.encode_queries(texts), ours, atol=1e-5)
    np.testing.assert_allclose(peer.encode_entities(rows), ours[:2], atol=1e-5)
