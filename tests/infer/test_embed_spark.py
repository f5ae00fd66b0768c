"""Batch inference on Spark local mode against the local engine, on a real tiny bundle: the same parts file for
file (names, schema, ids in the same order, vectors within 1e-6), one model load per Python worker rather than per
part, a rerun that rewrites only missing parts, and a task's error as the local engine's one line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.config import InferConfig
from omnisage.errors import MissingExtraError, OmniSageError
from omnisage.infer.embed import STREAMS, embed_all, load_embeddings
from omnisage.infer.embed_spark import embed_all_spark
from omnisage.model.bundle import load_model

from .bundle_fixture import TITLES, enriched_rows, make_tiny_bundle

CONFIG = InferConfig(batch_size=8, part_rows=20)  # 5 entity parts cut across row groups, 2 query parts


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    entities = tmp_path / "enriched_entities.parquet"
    pq.write_table(enriched_rows(90), entities, row_group_size=16)
    queries = tmp_path / "queries.parquet"
    texts = [f"{TITLES[i % len(TITLES)]} near me {i}" for i in range(30)]
    pq.write_table(pa.table({"query_text": texts}), queries)
    return entities, queries


def _parts(out: Path, stream: str) -> list[Path]:
    return sorted((out / stream).glob("part-*.parquet"))


@pytest.mark.spark
@pytest.mark.slow
def test_spark_parts_equal_local_parts_and_a_rerun_resumes(inputs, tmp_path: Path, spark) -> None:
    entities, queries = inputs
    bundle = make_tiny_bundle(tmp_path / "bundle")  # a fresh path: no worker has this model cached yet
    local = embed_all(load_model(bundle), tmp_path / "local", CONFIG, entities, queries)
    remote = embed_all_spark(bundle, tmp_path / "spark", CONFIG, entities, queries, spark=spark)

    assert (remote.parts_done, remote.rows, remote.per_stream) == (7, 120, {"entities": 90, "queries": 30})
    assert (local.parts_done, local.rows, local.per_stream) == (7, 120, remote.per_stream)
    assert 1 <= remote.model_loads <= 2  # local[2]: at most two Python workers, each loads once for 7 parts
    for stream in STREAMS:
        want, got = _parts(tmp_path / "local", stream), _parts(tmp_path / "spark", stream)
        assert [p.name for p in got] == [p.name for p in want]
        for a, b in zip(want, got, strict=True):
            a, b = pq.read_table(a), pq.read_table(b)
            assert b.schema.equals(a.schema, check_metadata=True)
            assert b.column("entity_id").to_pylist() == a.column("entity_id").to_pylist()
    for kind in ("pin", "product", "query"):
        ids, vectors, version = load_embeddings(tmp_path / "local", kind)
        spark_ids, spark_vectors, spark_version = load_embeddings(tmp_path / "spark", kind)
        assert spark_ids.tolist() == ids.tolist() and spark_version == version
        np.testing.assert_allclose(spark_vectors, vectors, rtol=0, atol=1e-6)

    # A killed job leaves whole parts only; the rerun writes the missing ones and keeps the rest untouched.
    for part in (_parts(tmp_path / "spark", "entities")[3], _parts(tmp_path / "spark", "queries")[0]):
        part.unlink()
    kept = {p: p.stat().st_mtime_ns for s in STREAMS for p in _parts(tmp_path / "spark", s)}
    again = embed_all_spark(bundle, tmp_path / "spark", CONFIG, entities, queries, spark=spark)
    assert (again.parts_done, again.parts_skipped, again.rows) == (2, 5, 20 + 20)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert not list((tmp_path / "spark").rglob(".*.tmp"))
    np.testing.assert_allclose(
        load_embeddings(tmp_path / "spark", "pin")[1],
        load_embeddings(tmp_path / "local", "pin")[1],
        atol=1e-6,
    )


@pytest.mark.spark
@pytest.mark.slow
def test_a_task_error_is_the_local_engines_one_line(inputs, tmp_path: Path, spark) -> None:
    entities, _ = inputs
    bundle = make_tiny_bundle(tmp_path / "bundle")
    (bundle / "weights.safetensors").write_bytes(
        b"damaged"
    )  # the driver reads the manifest; the workers verify
    with pytest.raises(OmniSageError) as local:
        load_model(bundle)
    with pytest.raises(OmniSageError) as remote:
        embed_all_spark(bundle, tmp_path / "spark", CONFIG, entities, spark=spark)
    assert str(remote.value) == str(local.value) and "changed since the bundle was saved" in str(local.value)
    assert not _parts(tmp_path / "spark", "entities")


@pytest.mark.spark
def test_embed_starts_spark_as_the_spark_section_says(inputs, tmp_path: Path, monkeypatch, capsys) -> None:
    """`--set spark.master=...` reaches the session the job starts (none is started here)."""
    from omnisage.features import engines

    started = []

    def fake_session(config, app):
        started.append((config.master, app))
        raise OmniSageError("no Spark in this test")

    monkeypatch.setattr(engines, "spark_session", fake_session)
    bundle = make_tiny_bundle(tmp_path / "bundle")
    argv = [
        "embed",
        "--engine",
        "spark",
        "--model",
        str(bundle),
        "--enriched",
        str(inputs[0]),
        "--no-progress",
    ]
    assert main([*argv, "--out", str(tmp_path / "out"), "--set", "spark.master=spark://head:7077"]) == 2
    assert "no Spark in this test" in capsys.readouterr().err
    assert started == [("spark://head:7077", "omnisage-embed")]


@pytest.mark.parametrize("missing", ["pyspark", "pandas"])
def test_spark_engine_without_its_extra_names_it(
    inputs, tmp_path: Path, monkeypatch, capsys, missing
) -> None:
    entities, _ = inputs
    monkeypatch.setitem(sys.modules, missing, None)  # importing it now fails as if it were not installed
    with pytest.raises(MissingExtraError, match=rf"needs '{missing}'.*pip install 'omnisage\[spark\]'"):
        embed_all_spark(tmp_path / "no-bundle", tmp_path / "out", CONFIG, entities)
    argv = ["embed", "--engine", "spark", "--model", str(tmp_path), "--enriched", str(entities)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "omnisage[spark]" in capsys.readouterr().err
