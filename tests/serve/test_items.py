"""`/v1/search?fields=` and `/v1/items` in-process, on the toy indexes with a hand-made item store."""

from __future__ import annotations

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from omnisage.config import ServeConfig
from omnisage.index.display import ItemStore
from omnisage.serve.app import create_app
from omnisage.serve.service import QueryService

from .test_app import PINS, PRODUCTS, QUERIES, toy_indexes


@pytest.fixture
def client(embedder):
    indexes = toy_indexes(embedder)
    indexes.items = ItemStore(
        {
            "pin": pa.table(
                {"entity_id": [f"pin{i}" for i in range(len(PINS))], "title": PINS, "lang": ["en"] * 5}
            ),
            "product": pa.table({"entity_id": ["prod0"], "title": [PRODUCTS[0]], "brand": ["Acme"]}),
            "query": pa.table({"entity_id": QUERIES, "volume": [5, 4, 3, 2]}),
        }
    )
    with TestClient(create_app(QueryService(embedder, indexes, ServeConfig(max_wait_ms=0)))) as c:
        yield c


def test_fields_ride_along_with_the_same_hits(client) -> None:
    plain = client.get("/v1/search?q=red+shoes&k=3").json()
    assert set(plain) == {"model_version", "query", "k", "results"}
    body = client.get("/v1/search?q=red+shoes&k=3&fields=title").json()
    assert body["cached"] is True and body["took_ms"] >= 0
    for kind, hits in plain["results"].items():
        assert [(h["id"], h["score"]) for h in body["results"][kind]] == [(h["id"], h["score"]) for h in hits]
    assert body["results"]["pin"][0]["item"] == {"title": "red running shoes"}
    products = body["results"]["product"]
    assert [h["item"] for h in products if h["id"] != "prod0"] == [{}, {}]  # not in the store: no fields
    assert all(h["item"] == {} for h in body["results"]["query"])  # a query has no title
    everything = client.get("/v1/search?q=red+shoes&k=1&fields=all").json()["results"]
    assert everything["pin"][0]["item"] == {"title": "red running shoes", "lang": "en"}
    related = everything["query"][0]["id"]
    assert everything["query"][0]["item"] == {"text": related, "volume": 5 - QUERIES.index(related)}


def test_items_route_and_bad_fields(client) -> None:
    assert client.get("/v1/items/product/prod0").json() == {
        "type": "product",
        "id": "prod0",
        "model_version": "toy-v1",
        "item": {"title": "running shoes size 42", "brand": "Acme"},
    }
    assert client.get("/v1/items/query/dining table").json()["item"] == {"text": "dining table", "volume": 4}
    assert client.get("/v1/items/product/prod1").json()["item"] == {}  # indexed, not in the store
    assert client.get("/v1/items/pin/pin99").status_code == 404
    assert client.get("/v1/items/board/b1").status_code == 404
    bad = client.get("/v1/search?q=shoes&fields=title,colour")
    assert bad.status_code == 400 and "unknown field 'colour'" in bad.json()["error"]
    assert client.get("/v1/images/pin/pin0").status_code == 404  # no local image
    page = client.get("/")
    assert (
        page.status_code == 200 and 'id="q"' in page.text and client.get("/static/page.js").status_code == 200
    )
