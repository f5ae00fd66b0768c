"""The HTTP API in-process: cached == uncached, raw == JSON, search == exact search, every bad input -> 4xx."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from omnisage.config import ServeConfig
from omnisage.index.catalog import IndexSet
from omnisage.index.exact import ExactIndex
from omnisage.serve.app import RAW, create_app, vectors_from_raw
from omnisage.serve.service import QueryService
from omnisage.text.normalize import normalize

PINS = ["red running shoes", "blue denim jacket", "wooden dining table", "red summer dress", "garden tools"]
PRODUCTS = ["running shoes size 42", "oak dining table", "leather jacket"]
QUERIES = ["red shoes", "dining table", "denim jacket", "summer dress"]


def toy_indexes(embedder) -> IndexSet:
    def index(prefix: str, texts: list[str]) -> ExactIndex:
        return ExactIndex(
            np.array([f"{prefix}{i}" for i in range(len(texts))]), embedder.encode_queries(texts)
        )

    indexes = {"pin": index("pin", PINS), "product": index("prod", PRODUCTS)}
    indexes["query"] = ExactIndex(np.array(QUERIES), embedder.encode_queries(QUERIES))
    embedder.calls.clear()
    return IndexSet(embedder.version, embedder.dim, indexes)


@pytest.fixture
def service(embedder) -> QueryService:
    return QueryService(embedder, toy_indexes(embedder), ServeConfig(max_wait_ms=0, max_k=20))


@pytest.fixture
def client(service) -> TestClient:
    with TestClient(create_app(service)) as c:
        yield c


def test_cached_response_equals_uncached(client, embedder) -> None:
    first = client.post("/v1/embed", json={"queries": ["Red Shoes", "dining  table"]})
    assert first.status_code == 200 and len(embedder.encoded) == 2
    second = client.post("/v1/embed", json={"queries": ["  red SHOES ", "dining table"]})
    assert len(embedder.encoded) == 2  # both answered by the cache: normalized keys
    assert second.content == first.content
    body = first.json()
    assert body["model_version"] == "toy-v1" and body["dim"] == 32
    want = embedder.encode_queries([normalize("Red Shoes"), normalize("dining  table")])
    np.testing.assert_allclose(np.array(body["embeddings"]), want, rtol=1e-6)


def test_raw_float32_equals_json(client) -> None:
    raw = client.post("/v1/embed", json={"query": "garden"}, headers={"accept": RAW})
    assert raw.headers["content-type"] == RAW and raw.headers["x-model-version"] == "toy-v1"
    as_json = client.post("/v1/embed", json={"query": "garden"}).json()["embeddings"]
    np.testing.assert_array_equal(vectors_from_raw(raw.content, 32), np.array(as_json, dtype=np.float32))


def test_search_matches_exact_search_for_every_type(client, embedder, service) -> None:
    body = client.get("/v1/search", params={"q": "Red shoes", "k": 3}).json()
    assert body["model_version"] == "toy-v1" and set(body["results"]) == {"pin", "product", "query"}
    q = embedder.encode_queries(["red shoes"])
    for kind in ("pin", "product"):
        want = service.snapshot.indexes.search(kind, q, 3)[0]
        assert [(h["id"], h["score"]) for h in body["results"][kind]] == [(i, round(s, 6)) for i, s in want]
    assert "red shoes" not in [h["id"] for h in body["results"]["query"]]  # not its own related query
    assert body["results"]["pin"][0]["id"] == "pin0"  # red running shoes
    only = client.get("/v1/search?q=oak+dining+table&type=product&k=1").json()["results"]
    assert list(only) == ["product"] and only["product"][0]["id"] == "prod1"


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("get", "/v1/search?q=", None, 400, "q is empty"),
        ("get", "/v1/search?q=%20%20", None, 400, "q is empty"),
        ("get", "/v1/search?k=3", None, 400, "missing parameter 'q'"),
        ("get", "/v1/search?q=" + "a" * 300, None, 400, "300 characters long; the limit is 256"),
        ("get", "/v1/search?q=shoes&type=board", None, 400, "unknown type 'board'"),
        ("get", "/v1/search?q=shoes&type=", None, 400, "unknown type"),
        ("get", "/v1/search?q=shoes&k=0", None, 400, "k must be between 1 and 20"),
        ("get", "/v1/search?q=shoes&k=21", None, 400, "k must be between 1 and 20"),
        ("get", "/v1/search?q=shoes&k=ten", None, 400, "k must be an integer"),
        ("get", "/v1/search?q=shoes&k=5_0", None, 400, "k must be an integer"),
        ("get", "/v1/search?q=shoes&k=%2B5", None, 400, "k must be an integer"),
        ("get", "/v1/search?q=shoes&k=%D9%A5", None, 400, "k must be an integer"),  # Arabic-Indic 5
        ("get", "/v1/search?q=shoes&k=%205", None, 400, "k must be an integer"),
        ("get", "/v1/search?q=shoes&k=", None, 400, "k must be an integer"),
        ("get", "/v1/search?q=caf%E9", None, 400, "parameter 'q' is not valid UTF-8"),
        ("post", "/v1/embed", b'{"query": "caf\xe9"}', 400, "not valid UTF-8 JSON"),
        ("post", "/v1/embed", b'{"query": "\\ud800"}', 400, "not valid UTF-8 JSON"),
        ("post", "/v1/embed", b"{not json", 400, "not valid UTF-8 JSON"),
        ("post", "/v1/embed", b'["red shoes"]', 400, 'JSON object with "queries"'),
        ("post", "/v1/embed", b'{"queries": "red shoes"}', 400, '"queries" must be a list'),
        ("post", "/v1/embed", b'{"queries": []}', 400, '"queries" is empty'),
        ("post", "/v1/embed", b'{"queries": ["ok", 7]}', 400, "queries[1] must be a string"),
        ("post", "/v1/embed", b'{"queries": ["ok", " "]}', 400, "queries[1] is empty"),
        ("post", "/v1/embed", orjson.dumps({"query": "x" * 257}), 400, "257 characters long"),
        ("post", "/v1/embed", orjson.dumps({"queries": ["q"] * 257}), 413, "the limit is 256"),
        ("get", "/v1/embed", None, 405, ""),
    ],
)
def test_bad_input_is_a_clear_4xx(client, embedder, method, path, payload, status, message) -> None:
    response = client.post(path, content=payload) if method == "post" else client.get(path)
    assert response.status_code == status, response.text
    assert message in (response.json().get("error", "") if status != 405 else "")
    assert embedder.calls == []


def test_healthz_and_metrics(client) -> None:
    client.post("/v1/embed", json={"query": "red shoes"})
    client.post("/v1/embed", json={"query": "red shoes"})
    client.get("/v1/search?q=nope&k=1000")
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model_version"] == "toy-v1"
    assert health["indexes"] == {"pin": 5, "product": 3, "query": 4}
    assert health["cache"]["redis"] == {"enabled": False} and health["cache"]["hit_ratio"] == 0.5
    text = client.get("/metrics").text
    assert 'omnisage_requests_total{route="/v1/embed",status="200"} 2.0' in text
    assert 'omnisage_requests_total{route="/v1/search",status="400"} 1.0' in text
    assert 'omnisage_request_seconds_bucket{le="0.001",route="/v1/embed"}' in text
    assert 'omnisage_cache_lookups_total{result="local_hit"} 1.0' in text
    assert "omnisage_cache_hit_ratio 0.5" in text and "omnisage_qps" in text
    assert 'omnisage_model_info{version="toy-v1"} 1.0' in text


def test_search_without_indexes_is_503(embedder) -> None:
    with TestClient(create_app(QueryService(embedder, None, ServeConfig()))) as c:
        response = c.get("/v1/search?q=shoes")
    assert response.status_code == 503 and "no indexes loaded" in response.json()["error"]


def test_a_content_length_that_is_not_a_number_is_a_400(client, embedder) -> None:
    # In-process there is no HTTP parser in front to refuse it: the route must.
    response = client.post("/v1/embed", content=b'{"query": "x"}', headers={"content-length": "+14"})
    assert response.status_code == 400 and "Content-Length must be a byte count" in response.json()["error"]
    assert embedder.calls == []
