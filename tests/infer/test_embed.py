"""Batch inference: parts equal direct encoding, shards partition the work, a killed run resumes without redoing parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.config import InferConfig
from omnisage.errors import OmniSageError
from omnisage.infer.embed import embed_all, load_embeddings, parse_shard

from .toy_model import ToyModel, enriched_table, vector_of

HERE = Path(__file__).parent


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    entities = tmp_path / "enriched_entities.parquet"
    pq.write_table(enriched_table(1000), entities, row_group_size=128)  # parts cut across row groups
    queries = tmp_path / "queries.parquet"
    pq.write_table(pa.table({"query_text": [f"query {i}" for i in range(250)]}), queries)
    return entities, queries


def test_parts_hold_every_row_once_with_its_vector(world, tmp_path: Path) -> None:
    entities, queries = world
    model = ToyModel()
    report = embed_all(model, tmp_path / "out", InferConfig(batch_size=64, part_rows=300), entities, queries)
    assert (report.parts_done, report.rows) == (4 + 1, 1250)
    assert sorted(p.name for p in (tmp_path / "out" / "entities").iterdir()) == [
        f"part-0000{k}.parquet" for k in range(4)
    ]
    ids, vectors, version = load_embeddings(tmp_path / "out", "pin")
    assert version == "toy-1" and len(ids) == 666 and len(set(ids)) == 666
    want = np.stack([vector_of(f"pin:title {i[3:]}") for i in ids])
    np.testing.assert_allclose(vectors, want)
    assert len(load_embeddings(tmp_path / "out", "product")[0]) == 334
    qids, qvectors, _ = load_embeddings(tmp_path / "out", "query")
    assert qids[7] == "query 7" and np.allclose(qvectors[7], vector_of("query:query 7"))
    part = pq.read_table(tmp_path / "out" / "entities" / "part-00000.parquet")
    assert part.column_names == ["entity_type", "entity_id", "vector", "model_version"]
    assert part.schema.field("vector").type == pa.list_(pa.float32(), 8)


def test_shards_partition_the_parts(world, tmp_path: Path) -> None:
    entities, _ = world
    config = InferConfig(batch_size=100, part_rows=150)
    a, b = ToyModel(), ToyModel()
    embed_all(a, tmp_path / "out", config, entities, shard=(0, 2))
    with pytest.raises(OmniSageError, match="4 of 7 parts present"):  # worker 1 has not run yet
        load_embeddings(tmp_path / "out", "pin")
    embed_all(b, tmp_path / "out", config, entities, shard=(1, 2))
    assert a.entity_rows + b.entity_rows == 1000 and a.entity_rows == 3 * 150 + 100
    embed_all(ToyModel(), tmp_path / "whole", config, entities)
    for kind in ("pin", "product"):
        np.testing.assert_array_equal(
            load_embeddings(tmp_path / "out", kind)[1], load_embeddings(tmp_path / "whole", kind)[1]
        )


def test_killed_run_resumes_without_recomputing(world, tmp_path: Path) -> None:
    entities, _ = world
    out = tmp_path / "out"
    script = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from toy_model import ToyModel\n"
        "from omnisage.config import InferConfig\n"
        "from omnisage.infer.embed import embed_all\n"
        f"embed_all(ToyModel(delay_s=0.1), {str(out)!r}, InferConfig(batch_size=50, part_rows=200), {str(entities)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    first = out / "entities" / "part-00001.parquet"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted((out / "entities").glob("part-*.parquet"))
    assert 2 <= len(done) < 5, "the run should die between parts"
    mtimes = {p: p.stat().st_mtime_ns for p in done}

    model = ToyModel()
    report = embed_all(model, out, InferConfig(batch_size=50, part_rows=200), entities)
    assert report.parts_skipped == len(done) and model.entity_rows == 1000 - 200 * len(done)
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # finished parts untouched
    assert not list((out / "entities").glob(".*.tmp"))  # the killed part's temp file was not kept as a part
    ids, _, _ = load_embeddings(out, "pin")
    assert len(ids) == 666 and len(set(ids)) == 666


def test_changed_model_or_part_size_is_refused(world, tmp_path: Path) -> None:
    entities, _ = world
    embed_all(ToyModel(), tmp_path / "out", InferConfig(part_rows=500), entities)
    with pytest.raises(OmniSageError, match="model_version"):
        embed_all(ToyModel(version="toy-2"), tmp_path / "out", InferConfig(part_rows=500), entities)
    with pytest.raises(OmniSageError, match="part_rows"):
        embed_all(ToyModel(), tmp_path / "out", InferConfig(part_rows=400), entities)


def test_parse_shard() -> None:
    assert parse_shard("2/8") == (2, 8)
    for bad in ("8/8", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(OmniSageError, match="--shard expects i/n"):
            parse_shard(bad)
