"""Two-stage search on a real pipeline (conftest's small world and the student `omnisage relevance` trained on it):
the served relevance equals the offline student's on the same pairs (no train/serve skew), the item store keeps
what the features read, the start errors are one line, and a hot swap brings a new student or keeps the old."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from omnisage.cli import main
from omnisage.config import ServeConfig
from omnisage.index.display import FIELDS, RELEVANCE_COLUMNS, ItemStore, relevance_table
from omnisage.model.bundle import load_model
from omnisage.relevance.features import ENGAGED_FIELDS, TEXT_FIELDS
from omnisage.relevance.pipeline import Catalog
from omnisage.relevance.student import load_student
from omnisage.serve.app import create_app
from omnisage.serve.rerank import student_version
from omnisage.serve.server import load_parts, make_reloader
from omnisage.serve.service import QueryService

pytestmark = pytest.mark.slow
QUERIES = ["blue sofa", "chocolate cake", "robe de mariée", "garden"]
ADMIN = {"authorization": "Bearer t"}
CONFIG = ServeConfig(encoder="torch", max_wait_ms=0, admin_token="t")


def test_the_item_store_keeps_what_the_features_read(small_world: Path) -> None:
    columns = (*TEXT_FIELDS, *ENGAGED_FIELDS, *RELEVANCE_COLUMNS)
    stored = relevance_table(small_world / "idx", columns)
    enriched = pq.read_table(small_world / "enriched" / "enriched_entities.parquet")
    assert stored.num_rows == enriched.num_rows  # every pin and product is indexed
    key = lambda t: {(r["entity_type"], r["entity_id"]): r for r in t.to_pylist()}  # noqa: E731
    want = key(
        enriched.select(["entity_type", "entity_id", *(c for c in columns if c in enriched.column_names)])
    )
    got = key(stored)
    assert got.keys() == want.keys()
    for item, row in want.items():
        assert {c: got[item].get(c) for c in row} == row, item
    assert sum(r["legacy_vector"] is not None for r in got.values()) > 0
    store = ItemStore.load(small_world / "idx")  # what fields= shows: display fields only
    assert all(set(store.columns[kind]) <= set(FIELDS[kind]) for kind in ("pin", "product"))


def offline_scorer(root: Path, student_dir: Path):
    """(query, hits) -> the student's scores of those pairs the way `omnisage relevance` computes them."""
    model = load_model(root / "run" / "model")
    catalog = Catalog.build(model, pq.read_table(root / "enriched" / "enriched_entities.parquet"))
    student = load_student(student_dir)

    def score(query: str, hits: list[dict]) -> np.ndarray:
        pairs = pa.table(
            {
                "query_text": [query] * len(hits),
                "entity_type": [h["type"] for h in hits],
                "entity_id": [h["id"] for h in hits],
            }
        )
        return student.predict(catalog.pair_features(model, pairs))

    return score


def test_served_relevance_is_the_offline_students(small_world: Path, small_student: Path) -> None:
    embedder, indexes, reranker = load_parts(
        small_world / "run" / "model", small_world / "idx", CONFIG, small_student
    )
    service = QueryService(embedder, indexes, CONFIG, reranker=reranker)
    version = student_version(small_student)
    offline = offline_scorer(small_world, small_student)
    with TestClient(create_app(service)) as client:
        for query in QUERIES:
            body = client.get("/v1/search", params={"q": query, "k": 10, "type": "pin,product"}).json()
            assert body["student"] == version
            first = client.get("/v1/search", params={"q": query, "k": 100, "rerank": "false"}).json()
            hits = []
            for kind in ("pin", "product"):
                ranked = body["results"][kind]
                relevance = [h["relevance"] for h in ranked]
                assert relevance == sorted(relevance, reverse=True) and len(ranked) == 10
                # From the first stage's top 100, each with its first-stage score.
                pool = {h["id"]: h["score"] for h in first["results"][kind]}
                assert all(pool[h["id"]] == h["score"] for h in ranked)
                hits += [{"type": kind, **h} for h in ranked]
            served = [h["relevance"] for h in hits]
            np.testing.assert_allclose(
                served, offline(query, hits), rtol=0, atol=1e-6
            )  # to the 6 decimals served
            items = [{"type": h["type"], "id": h["id"]} for h in hits]
            scored = client.post("/v1/score", json={"query": query, "items": items}).json()
            assert scored["scores"] == [h["relevance"] for h in hits] and scored["student"] == version


def mismatched_student(student_dir: Path, out: Path) -> Path:
    """The student as if it also read 8 dims of q * e (as students once did): 8 more features."""
    student = load_student(student_dir)
    names = (*student.feature_names, *(f"qe_{i}" for i in range(8)))
    first = np.concatenate(
        [student.weights[0], np.zeros((student.weights[0].shape[0], 8), np.float32)], axis=1
    )
    wider = dataclasses.replace(
        student,
        feature_names=names,
        mean=np.concatenate([student.mean, np.zeros(8, np.float32)]),
        std=np.concatenate([student.std, np.ones(8, np.float32)]),
        weights=[first, *student.weights[1:]],
    )
    return wider.save(out)


def test_start_errors_are_one_line(small_world: Path, small_student: Path, tmp_path: Path, capsys) -> None:
    model, idx = small_world / "run" / "model", small_world / "idx"
    no_items = tmp_path / "idx_no_items"
    assert (
        main(["index", "--embeddings", str(small_world / "emb"), "--out", str(no_items), "--no-progress"])
        == 0
    )
    (tmp_path / "empty").mkdir()
    student = load_student(small_student)
    assert student.model_version == load_model(model).version  # `omnisage relevance` records its model
    student.model_version = "0123456789abcdef"
    other_model = student.save(tmp_path / "other_model")
    cases = {
        "the student reads 22 features, the served ones are 14": (idx, mismatched_student(small_student, tmp_path / "wide")),
        "lacks the student's item fields (rebuild the indexes with `omnisage index --enriched`)": (no_items, small_student),
        "not a relevance student (no student.json)": (idx, tmp_path / "empty"),
        "the student was trained on model 0123456789abcdef's embeddings, the served model is": (idx, other_model),
    }  # fmt: skip
    capsys.readouterr()
    for message, (indexes, student) in cases.items():
        argv = ["serve", "--model", str(model), "--indexes", str(indexes), "--student", str(student)]
        assert main([*argv, "--port", "1", "--config", "tiny"]) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("omnisage serve: error: ") and err.count("\n") == 1 and message in err, err


def test_a_reload_names_a_new_student_or_keeps_the_old_one(
    small_world: Path, small_student: Path, tmp_path: Path
) -> None:
    model, idx = small_world / "run" / "model", small_world / "idx"
    other = tmp_path / "other"
    shutil.copytree(small_student, other)
    student = load_student(other)
    student.biases[-1][-1] += (
        1.0  # another student (the top level more likely): other scores, another version
    )
    shutil.rmtree(other)
    student.save(other)
    bad = mismatched_student(small_student, tmp_path / "wide")
    embedder, indexes, reranker = load_parts(model, idx, CONFIG, small_student)
    service = QueryService(embedder, indexes, CONFIG, reranker=reranker)
    model_version = service.snapshot.version
    old, new = student_version(small_student), student_version(other)
    reloader = make_reloader(model, idx, CONFIG, small_student)
    with TestClient(create_app(service, reloader), headers=ADMIN) as client:
        before = client.get("/v1/search?q=blue+sofa&type=pin").json()
        swapped = client.post("/v1/admin/reload", json={"student": str(other)})
        assert swapped.json() == {
            "model_version": f"{model_version}+student-{new}",
            "previous": f"{model_version}+student-{old}",
        }
        after = client.get("/v1/search?q=blue+sofa&type=pin").json()
        assert after["student"] == new and after["results"] != before["results"]
        refused = client.post("/v1/admin/reload", json={"student": str(bad)})
        assert refused.status_code == 409 and "still serving the old model" in refused.json()["error"]
        assert "the student reads 22 features" in refused.json()["error"]
        assert client.get("/v1/search?q=blue+sofa&type=pin").json() == after
        again = client.post("/v1/admin/reload", json={})  # the last student that loaded, not the refused one
        assert again.json()["model_version"] == f"{model_version}+student-{new}"
