"""Redis-down fallback and hot swap: the service keeps answering 200 through both."""

from __future__ import annotations

import asyncio
import collections
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from omnisage.config import ServeConfig
from omnisage.serve.app import create_app
from omnisage.serve.service import QueryService

from .conftest import TrigramEmbedder
from .test_app import toy_indexes

TOKEN = "s3cret-admin-token"
ADMIN = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}


@pytest.mark.redis
def test_redis_tier_is_shared_and_its_loss_is_not_an_error(redis_server, embedder) -> None:
    config = ServeConfig(redis_url=redis_server.url, max_wait_ms=0, redis_retry_s=60)
    with TestClient(create_app(QueryService(embedder, None, config))) as first:
        want = first.post("/v1/embed", json={"query": "red shoes"}).json()
    assert embedder.encoded == ["red shoes"]
    # A second replica with an empty local tier finds the vector in Redis.
    service = QueryService(embedder, None, config)
    with TestClient(create_app(service)) as second:
        assert second.post("/v1/embed", json={"query": "Red Shoes"}).json() == want
        assert embedder.encoded == ["red shoes"]
        assert second.get("/healthz").json()["cache"]["redis"]["up"] is True
        redis_server.stop()
        assert second.post("/v1/embed", json={"query": "red shoes"}).json() == want  # local tier
        fresh = second.post("/v1/embed", json={"queries": ["blue hat", "red shoes"]})
        assert fresh.status_code == 200 and embedder.encoded == ["red shoes", "blue hat"]
        health = second.get("/healthz").json()
        assert health["status"] == "degraded" and health["cache"]["redis"]["up"] is False
        assert "Error" in health["cache"]["redis"]["error"]
        assert "omnisage_redis_up 0.0" in second.get("/metrics").text
        codes = {second.post("/v1/embed", json={"query": f"q{i}"}).status_code for i in range(20)}
        assert codes == {200}


class SlowEmbedder(TrigramEmbedder):
    def encode_queries(self, queries: list[str]) -> np.ndarray:
        time.sleep(0.005)
        return super().encode_queries(queries)


def test_hot_swap_drops_no_request() -> None:
    old, new = SlowEmbedder(version="toy-v1", seed=0), SlowEmbedder(version="toy-v2", seed=1)
    old_indexes, new_indexes = toy_indexes(old), toy_indexes(new)
    service = QueryService(old, old_indexes, ServeConfig(max_wait_ms=1, admin_token=TOKEN))
    app = create_app(service, reloader=lambda spec: (new, new_indexes))

    async def main() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:

            async def one(i: int) -> httpx.Response:
                await asyncio.sleep(0.002 * i)
                if i % 2:
                    return await client.get("/v1/search", params={"q": f"red shoes {i % 7}", "k": 2})
                return await client.post("/v1/embed", json={"query": f"dining table {i}"})

            async def swap() -> httpx.Response:
                await asyncio.sleep(0.05)
                return await client.post("/v1/admin/reload", json={}, headers=ADMIN)

            *responses, swapped = await asyncio.gather(*(one(i) for i in range(80)), swap())
            after = [await one(i) for i in range(5)]  # sent once the swap has answered
            return responses + after, swapped

    responses, swapped = asyncio.run(main())
    assert swapped.json() == {"model_version": "toy-v2", "previous": "toy-v1"}, swapped.text
    assert {r.status_code for r in responses} == {200}
    versions = [r.json()["model_version"] for r in responses]
    assert versions[0] == "toy-v1" and set(versions) == {"toy-v1", "toy-v2"}
    assert versions[-5:] == ["toy-v2"] * 5
    assert service.snapshot.version == "toy-v2" and service.metrics.swaps._value.get() == 1


def test_reload_failure_keeps_the_old_model(embedder) -> None:
    from omnisage.errors import OmniSageError

    def broken(spec: dict) -> tuple:
        raise OmniSageError(f"no model bundle in {spec.get('model')}")

    service = QueryService(embedder, None, ServeConfig(admin_token=TOKEN))
    with TestClient(create_app(service, reloader=broken), headers=ADMIN) as client:
        response = client.post("/v1/admin/reload", json={"model": "/nowhere"})
        assert response.status_code == 409 and "still serving the old model" in response.json()["error"]
        assert client.post("/v1/embed", json={"query": "ok"}).json()["model_version"] == "toy-v1"
        assert client.post("/v1/admin/reload", content=b"[1]", headers=JSON).status_code == 400


@pytest.mark.redis
def test_bad_redis_values_are_misses_overwritten_and_counted(redis_server, embedder) -> None:
    import redis

    config = ServeConfig(redis_url=redis_server.url, max_wait_ms=0)
    raw = redis.Redis.from_url(redis_server.url)
    key = "omnisage:qe:toy-v1:{}".format
    raw.set(key("red shoes"), np.full(32, np.nan, dtype=np.float32).tobytes())  # NaN
    raw.set(key("blue hat"), np.ones(31, dtype=np.float32).tobytes())  # one float short
    raw.set(key("green cap"), b"\x00")  # not a vector at all
    service = QueryService(embedder, None, config)
    with TestClient(create_app(service)) as client:
        body = client.post("/v1/embed", json={"queries": ["red shoes", "blue hat", "green cap"]}).json()
        got = np.array(body["embeddings"], dtype=np.float32)  # (3, 32)
        np.testing.assert_allclose(got, embedder.encode_queries(["red shoes", "blue hat", "green cap"]))
        assert embedder.encoded[:3] == ["red shoes", "blue hat", "green cap"]
        assert 'omnisage_cache_lookups_total{result="miss"} 3.0' in client.get("/metrics").text
        assert "omnisage_cache_bad_values_total 3.0" in client.get("/metrics").text
    for text, vector in zip(["red shoes", "blue hat", "green cap"], got):  # overwritten with good vectors
        np.testing.assert_array_equal(np.frombuffer(raw.get(key(text)), dtype=np.float32), vector)
    raw.close()


def test_reload_needs_the_admin_token_and_a_json_body(embedder, monkeypatch) -> None:
    monkeypatch.delenv("OMNISAGE_ADMIN_TOKEN", raising=False)
    new = TrigramEmbedder(version="toy-v2", seed=1)

    def post(config: ServeConfig, **kwargs) -> httpx.Response:
        app = create_app(QueryService(embedder, None, config), reloader=lambda spec: (new, None))
        with TestClient(app) as client:
            return client.post("/v1/admin/reload", **kwargs)

    off = post(ServeConfig(), json={})
    assert off.status_code == 404 and "admin routes are off" in off.json()["error"]
    on = ServeConfig(admin_token=TOKEN)
    missing = post(on, json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert post(on, json={}, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert post(on, json={}, headers={"authorization": TOKEN}).status_code == 401  # no scheme
    # A page the operator visits can POST text/plain or a form without a CORS preflight: refused.
    for simple in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = post(on, content=b"{}", headers={**ADMIN, "content-type": simple})
        assert response.status_code == 415 and "must be application/json" in response.json()["error"]
    assert post(on, content=b"{}", headers=ADMIN).status_code == 415  # no content type at all
    ok = post(on, json={}, headers=ADMIN)
    assert ok.status_code == 200 and ok.json() == {"model_version": "toy-v2", "previous": "toy-v1"}
    assert post(on, content=b"{}", headers={**ADMIN, "content-type": "application/json; charset=utf-8"})
    # The environment variable wins over the config, and turns the route on by itself.
    monkeypatch.setenv("OMNISAGE_ADMIN_TOKEN", "from-env")
    assert post(on, json={}, headers=ADMIN).status_code == 401
    assert post(ServeConfig(), json={}, headers={"authorization": "Bearer from-env"}).status_code == 200


def test_concurrent_reloads_each_report_the_version_they_replaced() -> None:
    versions = collections.deque(["toy-v2", "toy-v3"])  # popleft is atomic: the reloads run on two threads
    service = QueryService(SlowEmbedder(), None, ServeConfig(admin_token=TOKEN))
    app = create_app(service, reloader=lambda spec: (SlowEmbedder(version=versions.popleft()), None))

    async def main() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve", headers=ADMIN) as client:
            both = [client.post("/v1/admin/reload", json={}) for _ in range(2)]
            return [r.json() for r in await asyncio.gather(*both)]

    # Whichever swap ran first replaced toy-v1; the other replaced what the first put in.
    first, second = sorted(
        (r["previous"] != "toy-v1", r["previous"], r["model_version"]) for r in asyncio.run(main())
    )
    assert first[1] == "toy-v1" and second[1] == first[2] and {first[2], second[2]} == {"toy-v2", "toy-v3"}
