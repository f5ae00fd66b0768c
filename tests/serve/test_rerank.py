"""Two-stage search and /v1/score in-process, on the toy indexes with a hand-made student (tests/serve/toy_student.py)
whose score is a known function of the title's word match: re-ranking == a sort of the first stage's top N by
that function, rerank=false == no student, /v1/score == the relevance search reports, every bad input a 4xx."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from omnisage.config import ServeConfig
from omnisage.errors import OmniSageError
from omnisage.index.display import ItemStore
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex
from omnisage.index.ivfpq import IvfPqIndex
from omnisage.serve.app import create_app
from omnisage.serve.rerank import IndexedVectors, Reranker
from omnisage.serve.service import QueryService

from .conftest import TrigramEmbedder
from .test_app import PINS, PRODUCTS, toy_indexes
from .toy_student import VERSION, title_match_relevance, toy_entities, toy_reranker, word_match_student

ADMIN = {"authorization": "Bearer t"}


def ranked_service(embedder, candidates: int = 100) -> QueryService:
    indexes = toy_indexes(embedder)
    config = ServeConfig(max_wait_ms=0, max_k=20, admin_token="t", max_score_items=4)
    return QueryService(embedder, indexes, config, reranker=toy_reranker(indexes, PINS, PRODUCTS, candidates))


@pytest.fixture
def service(embedder) -> QueryService:
    return ranked_service(embedder)


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def first_stage(service: QueryService, kind: str, query: str, n: int) -> list[tuple[str, float]]:
    vector = service.snapshot.embedder.encode_queries([query])
    return service.snapshot.indexes.search(kind, vector, n)[0]


def test_search_is_the_students_sort_of_the_first_stage(client, service) -> None:
    body = client.get("/v1/search?q=Red+shoes&k=3").json()
    assert body["student"] == VERSION and body["model_version"] == "toy-v1"
    titles = {f"pin{i}": t for i, t in enumerate(PINS)} | {f"prod{i}": t for i, t in enumerate(PRODUCTS)}
    for kind in ("pin", "product"):
        stage_one = first_stage(service, kind, "red shoes", 100)  # the whole toy catalog
        share = [len({"red", "shoes"} & set(titles[i].split())) / 2 for i, _ in stage_one]
        order = sorted(range(len(stage_one)), key=lambda r: -share[r])[:3]  # stable: stage one breaks ties
        want = [
            {"id": stage_one[r][0], "score": round(stage_one[r][1], 6),
             "relevance": round(title_match_relevance(share[r]), 6)}
            for r in order
        ]  # fmt: skip
        assert body["results"][kind] == want, kind
    assert body["results"]["pin"][0] == {**body["results"]["pin"][0], "id": "pin0", "relevance": 2.964028}
    assert body["results"]["pin"][1]["id"] == "pin3" and body["results"]["pin"][1]["relevance"] == 2.0
    assert all("relevance" not in hit for hit in body["results"]["query"])  # related queries: stage one


def test_the_student_only_sees_the_first_stages_top_n(embedder) -> None:
    service = ranked_service(embedder, candidates=2)
    with TestClient(create_app(service)) as client:
        hits = client.get("/v1/search?q=garden+dress&k=2&type=pin").json()["results"]["pin"]
    stage_one = first_stage(service, "pin", "garden dress", 3)
    # Stage one: wooden dining table, garden tools, then red summer dress. The student prefers the last two
    # (half the query's words each), but only sees the top 2.
    assert [i for i, _ in stage_one] == ["pin2", "pin4", "pin3"]
    assert [h["id"] for h in hits] == ["pin4", "pin2"]
    with TestClient(create_app(service)) as client:  # k above N: the first stage gives k candidates
        wide = client.get("/v1/search?q=garden+dress&k=4&type=pin").json()["results"]["pin"]
    assert len(wide) == 4 and all("relevance" in h for h in wide)


def test_rerank_false_is_the_service_without_a_student(client, embedder) -> None:
    plain_service = QueryService(TrigramEmbedder(), toy_indexes(TrigramEmbedder()), ServeConfig(max_k=20))
    with TestClient(create_app(plain_service)) as plain:
        for query in ("/v1/search?q=red+shoes&k=4", "/v1/search?q=oak+table&k=2&fields=title&type=product"):
            want = plain.get(query).json()
            got = client.get(query + "&rerank=false").json()
            for body in (want, got):
                body.pop("took_ms", None)
            assert got == want
    off = client.get("/v1/search?q=red+shoes&rerank=0").json()
    assert "student" not in off and all("relevance" not in h for h in off["results"]["pin"])
    for flag in ("true", "1", "TRUE"):
        assert "student" in client.get(f"/v1/search?q=red+shoes&rerank={flag}").json()
    bad = client.get("/v1/search?q=red+shoes&rerank=maybe")
    assert bad.status_code == 400 and bad.json()["error"] == "rerank must be true or false, got 'maybe'"


def test_fields_ride_along_with_reranked_hits(embedder) -> None:
    service = ranked_service(embedder)
    titles = pa.table({"entity_id": [f"pin{i}" for i in range(len(PINS))], "title": PINS})
    service.snapshot.indexes.items = ItemStore({"pin": titles})
    with TestClient(create_app(service)) as client:
        plain = client.get("/v1/search?q=red+shoes&k=2&type=pin").json()
        body = client.get("/v1/search?q=red+shoes&k=2&type=pin&fields=title").json()
    assert body["student"] == VERSION and body["cached"] is True
    assert [{k: v for k, v in h.items() if k != "item"} for h in body["results"]["pin"]] == plain["results"][
        "pin"
    ]
    assert [h["item"] for h in body["results"]["pin"]] == [{"title": PINS[0]}, {"title": PINS[3]}]


def test_score_is_what_search_reports(client) -> None:
    hits = client.get("/v1/search?q=red+shoes&k=3&type=product").json()["results"]["product"]
    items = [{"type": "product", "id": h["id"]} for h in hits] + [{"type": "pin", "id": "pin0"}]
    body = client.post("/v1/score", json={"query": "  RED shoes", "items": items}).json()
    assert body == {
        "scores": [h["relevance"] for h in hits] + [2.964028],
        "model_version": "toy-v1",
        "student": VERSION,
    }
    again = client.post("/v1/score", json={"query": "red shoes", "items": [items[0], items[0]]}).json()
    assert again["scores"] == [hits[0]["relevance"]] * 2


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (b"{not json", 400, "not valid UTF-8 JSON"),
        (b'["red shoes"]', 400, 'JSON object with "query"'),
        (b'{"query": "red", "items": [], "k": 3}', 400, 'JSON object with "query"'),
        (b'{"query": "red"}', 400, 'JSON object with "query"'),
        (b'{"query": " ", "items": [{"type": "pin", "id": "pin0"}]}', 400, "query is empty"),
        (b'{"query": 7, "items": [{"type": "pin", "id": "pin0"}]}', 400, "query must be a string"),
        (b'{"query": "red", "items": []}', 400, '"items" must be a non-empty list'),
        (b'{"query": "red", "items": {"type": "pin"}}', 400, '"items" must be a non-empty list'),
        (b'{"query": "red", "items": [{"type": "pin", "id": "pin0"}, 3]}', 400, "items[1] must be an object"),
        (b'{"query": "red", "items": [{"type": "query", "id": "red"}]}', 400, "items[0].type must be one of"),
        (b'{"query": "red", "items": [{"type": "pin", "id": ""}]}', 400, "items[0].id must be a string"),
        (b'{"query": "red", "items": [{"type": "pin", "id": 12}]}', 400, "items[0].id must be a string"),
        (b'{"query": "red", "items": [{"type": "pin", "id": "pin0", "x": 1}]}', 400, "items[0] must be"),
        (orjson.dumps({"query": "red", "items": [{"type": "pin", "id": "pin0"}] * 5}), 413, "the limit is 4"),
        (orjson.dumps({"query": "red", "items": [{"type": "pin", "id": "p" * 600}]}), 400, "1 to 512"),
        (
            orjson.dumps(
                {"query": "red", "items": [{"type": "pin", "id": "pin0"}, {"type": "pin", "id": "prod0"}]}
            ),
            404,
            "items[1]: no pin 'prod0' in the served catalog",
        ),
        (b"x" * 200_000, 413, "the limit is"),
    ],
)
def test_bad_score_input_is_a_clear_4xx(client, embedder, payload, status, message) -> None:
    response = client.post("/v1/score", content=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert embedder.calls == []  # refused before the query is encoded


def test_score_without_a_student_is_503(embedder) -> None:
    with TestClient(create_app(QueryService(embedder, toy_indexes(embedder), ServeConfig()))) as c:
        response = c.post("/v1/score", json={"query": "red", "items": [{"type": "pin", "id": "pin0"}]})
    assert response.status_code == 503 and "no relevance student loaded" in response.json()["error"]


def test_healthz_metrics_and_reload_name_the_student(embedder) -> None:
    indexes = toy_indexes(embedder)
    service = QueryService(embedder, indexes, ServeConfig(max_wait_ms=0, admin_token="t"))
    parts = {
        "with": (embedder, indexes, toy_reranker(indexes, PINS, PRODUCTS)),
        "without": (embedder, indexes),
    }
    app = create_app(service, reloader=lambda spec: parts[spec["student"]])
    with TestClient(app, headers=ADMIN) as client:
        assert client.get("/healthz").json()["student"] is None
        swapped = client.post("/v1/admin/reload", json={"student": "with"}).json()
        assert swapped == {"model_version": f"toy-v1+student-{VERSION}", "previous": "toy-v1"}
        health = client.get("/healthz").json()
        assert health["model_version"] == "toy-v1" and health["served"] == f"toy-v1+student-{VERSION}"
        assert health["student"] == {
            "version": VERSION, "candidates": 100, "features": 14,
            "scale": {"kind": "mean", "low": 1.0, "high": 3.0, "bins": [1.84, 2.5]},
        }  # fmt: skip
        assert f'omnisage_model_info{{version="toy-v1+student-{VERSION}"}} 1.0' in client.get("/metrics").text
        assert "student" in client.get("/v1/search?q=red+shoes").json()
        back = client.post("/v1/admin/reload", json={"student": "without"}).json()
        assert back == {"model_version": "toy-v1", "previous": f"toy-v1+student-{VERSION}"}
        assert "student" not in client.get("/v1/search?q=red+shoes").json()


def test_a_student_that_reads_other_features_is_refused_in_one_line(embedder) -> None:
    indexes = toy_indexes(embedder)
    vectors = IndexedVectors([indexes.indexes["pin"], indexes.indexes["product"]])  # (8, 32)
    entities = toy_entities(PINS, PRODUCTS)
    names = toy_reranker(indexes, PINS, PRODUCTS).features.names
    wider = word_match_student((*names, *(f"qe_{i}" for i in range(32))))  # q * e, as students once read
    with pytest.raises(
        OmniSageError, match=r"^the student reads 46 features, the served ones are 14 \(the longer"
    ):
        Reranker.build(wider, "x", entities, vectors, 0, 100)
    renamed = word_match_student(("bm25_text", *names[1:]))
    with pytest.raises(OmniSageError, match="feature 0 is 'bm25_text' for the student, 'cosine' here"):
        Reranker.build(renamed, "x", entities, vectors, 0, 100)
    legacy = entities.append_column("legacy_vector", [[[1.0, 0.0, 0.0]] * entities.num_rows])
    with pytest.raises(OmniSageError, match="legacy vectors are 3-d, the model's compatibility prefix 8-d"):
        Reranker.build(word_match_student(names), "x", legacy, vectors, 8, 100)


def test_a_reranker_needs_indexes(embedder) -> None:
    reranker = toy_reranker(toy_indexes(embedder), PINS, PRODUCTS)
    with pytest.raises(OmniSageError, match="needs indexes"):
        QueryService(embedder, None, ServeConfig(), reranker=reranker)


def test_a_student_whose_layers_do_not_chain_is_malformed(embedder) -> None:
    from omnisage.serve.rerank import _check_layers

    names = toy_reranker(toy_indexes(embedder), PINS, PRODUCTS).features.names
    good = word_match_student(names)
    _check_layers(good)
    short = dataclasses.replace(good, weights=[good.weights[0][:, :-1]])
    with pytest.raises(ValueError, match="layer 0 is"):
        _check_layers(short)
    two_out = dataclasses.replace(good, weights=[np.zeros((2, len(names)), np.float32)], biases=[np.zeros(2)])
    with pytest.raises(ValueError, match="2 outputs"):
        _check_layers(two_out)


def test_a_service_without_a_student_does_not_load_pytorch() -> None:
    """The student's features come with PyTorch (the model's feature code): they load with a student only."""
    import subprocess
    import sys

    code = "import sys, omnisage.serve.app, omnisage.serve.server; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"


def test_indexed_vectors_gather_what_each_index_scores_with() -> None:
    """The oracle: the three kinds' vectors stacked in a plain array (IVF-PQ's as its float16 copy)."""
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(n, 16)).astype(np.float32) for n in (10, 20, 700)]  # IVF-PQ trains on >= 624
    ids = [np.array([f"{k}{i}" for i in range(len(b))]) for k, b in zip("xyz", blocks)]
    indexes = [
        ExactIndex(ids[0], blocks[0]),
        HnswIndex.build(ids[1], blocks[1]),
        IvfPqIndex.build(ids[2], blocks[2]),
    ]
    view = IndexedVectors(indexes)
    stacked = np.concatenate([blocks[0], blocks[1], blocks[2].astype(np.float16).astype(np.float32)])
    rows = rng.permutation(len(stacked))[:200]
    assert view.shape == stacked.shape and len(view) == 730
    np.testing.assert_array_equal(view[rows], stacked[rows])
    np.testing.assert_array_equal(view[np.array([729, 0, 10, 29, 30])], stacked[[729, 0, 10, 29, 30]])
    assert view[np.array([], np.int64)].shape == (0, 16)
