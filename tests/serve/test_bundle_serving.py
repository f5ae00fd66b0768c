"""The commands end to end on real (tiny) bundles: embed -> index -> service, and a hot swap to a second model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from omnisage.cli import main
from omnisage.config import ServeConfig
from omnisage.serve.app import create_app
from omnisage.serve.server import load_parts, make_reloader
from omnisage.serve.service import QueryService

from ..infer.bundle_fixture import TITLES, enriched_rows, make_tiny_bundle

ADMIN = {"authorization": "Bearer t"}


def build(root: Path, seed: int) -> tuple[Path, Path]:
    """A bundle, its embeddings and its indexes, through the command line."""
    model = make_tiny_bundle(root / f"m{seed}", seed=seed)
    args = ["--model", str(model), "--enriched", str(root), "--queries", str(root / "queries.parquet")]
    assert main(["embed", *args, "--out", str(root / f"emb{seed}"), "--set", "infer.part_rows=25"]) == 0
    assert main(["index", "--embeddings", str(root / f"emb{seed}"), "--out", str(root / f"idx{seed}")]) == 0
    return model, root / f"idx{seed}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    root = tmp_path_factory.mktemp("served")
    pq.write_table(enriched_rows(60), root / "enriched_entities.parquet")
    pq.write_table(pa.table({"query_text": TITLES}), root / "queries.parquet")
    return (*build(root, 0), *build(root, 1))


@pytest.mark.slow
def test_commands_then_hot_swap_to_another_bundle(built) -> None:
    model0, idx0, model1, idx1 = built
    assert len(list((idx0.parent / "emb0" / "entities").glob("part-*.parquet"))) == 3
    stats = json.loads((idx0 / "indexes.json").read_text())["stats"]
    assert {n: s["count"] for n, s in stats.items()} == {"pin": 40, "product": 20, "query": 10}
    config = ServeConfig(encoder="onnx-int8", max_wait_ms=0, admin_token="t")
    embedder, indexes, _ = load_parts(model0, idx0, config)  # no student
    service = QueryService(embedder, indexes, config)
    with TestClient(create_app(service, make_reloader(model0, idx0, config)), headers=ADMIN) as client:
        before = client.get("/v1/search?q=red+sofa&k=3").json()
        assert set(before["results"]) == {"pin", "product", "query"}
        mismatch = client.post("/v1/admin/reload", json={"model": str(model1)})  # new model, old indexes
        assert mismatch.status_code == 409 and "indexes were built from model" in mismatch.json()["error"]
        swapped = client.post("/v1/admin/reload", json={"model": str(model1), "indexes": str(idx1)}).json()
        assert swapped == {"model_version": service.snapshot.version, "previous": before["model_version"]}
        after = client.get("/v1/search?q=red+sofa&k=3").json()
        assert after["model_version"] != before["model_version"]
        assert client.post("/v1/admin/reload", json={"bogus": 1}).status_code == 409


def test_bad_shard_is_a_one_line_error(built, capsys) -> None:
    model0 = built[0]
    code = main(["embed", "--model", str(model0), "--out", "/tmp/unused", "--shard", "3/2"])
    assert code == 2 and "--shard expects i/n" in capsys.readouterr().err


def corrupt_copies(idx: Path, root: Path) -> dict[str, Path]:
    """Copies of a good index set, each broken in one way."""
    out = {}
    for case in ("bad json", "truncated faiss", "kind lies", "dot dot"):
        copy = root / case.replace(" ", "_")
        shutil.copytree(idx, copy)
        out[case] = copy
    (out["bad json"] / "indexes.json").write_text('{"model_version": ')
    faiss_file = next(out["truncated faiss"].glob("*/hnsw.faiss"))
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    for case, change in (
        ("kind lies", {"pin": {"kind": "exact"}}),
        ("dot dot", {"../pin": {"kind": "hnsw"}}),
    ):
        manifest = json.loads((out[case] / "indexes.json").read_text())
        manifest["indexes"].update(change)
        (out[case] / "indexes.json").write_text(json.dumps(manifest))
    return out


def test_malformed_index_sets_are_rejected_on_reload_and_at_start(built, tmp_path, capsys) -> None:
    model0, idx0 = built[0], built[1]
    broken = corrupt_copies(idx0, tmp_path)
    config = ServeConfig(max_wait_ms=0, admin_token="t")
    embedder, indexes, _ = load_parts(model0, idx0, config)  # no student
    service = QueryService(embedder, indexes, config)
    with TestClient(create_app(service, make_reloader(model0, idx0, config)), headers=ADMIN) as client:
        before = client.get("/v1/search?q=red+sofa&k=3").json()
        for case, folder in broken.items():
            response = client.post("/v1/admin/reload", json={"indexes": str(folder)})
            assert response.status_code == 409, (case, response.text)
            assert "still serving the old model" in response.json()["error"], case
            assert "\n" not in response.json()["error"]
            assert client.get("/v1/search?q=red+sofa&k=3").json() == before
    for case, folder in broken.items():
        assert main(["serve", "--model", str(model0), "--indexes", str(folder), "--port", "1"]) == 2, case
        err = capsys.readouterr().err
        assert err.startswith("omnisage serve: error: ") and err.count("\n") == 1, err


def test_a_rejected_reload_writes_nothing_and_keeps_the_paths_of_the_next(built, tmp_path) -> None:
    model0, idx0, model1 = built[0], built[1], built[2]
    fresh = tmp_path / "model1"  # a bundle never served: no onnx/ export yet
    shutil.copytree(model1, fresh, ignore=shutil.ignore_patterns("onnx"))
    before = sorted(p.relative_to(fresh) for p in fresh.rglob("*"))
    config = ServeConfig(max_wait_ms=0, admin_token="t")
    embedder, indexes, _ = load_parts(model0, idx0, config)  # no student
    service = QueryService(embedder, indexes, config)
    version0 = service.snapshot.version
    with TestClient(create_app(service, make_reloader(model0, idx0, config)), headers=ADMIN) as client:
        mismatch = client.post("/v1/admin/reload", json={"model": str(fresh)})  # the old indexes: 409
        assert mismatch.status_code == 409 and "indexes were built from model" in mismatch.json()["error"]
        assert sorted(p.relative_to(fresh) for p in fresh.rglob("*")) == before  # no onnx/ left behind
        again = client.post("/v1/admin/reload", json={})  # still model0 + idx0, not the rejected bundle
        assert again.status_code == 200, again.text
        assert again.json() == {"model_version": version0, "previous": version0}
