"""The OpenAPI schema documents every route, and schemathesis, fuzzing the live server from it, finds no 5xx."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from omnisage.config import ServeConfig
from omnisage.serve.app import create_app
from omnisage.serve.service import QueryService

from .conftest import LIVE_TOKEN

EXAMPLES_PER_OPERATION = 50


def test_every_route_is_in_the_schema_built_once(embedder) -> None:
    app = create_app(QueryService(embedder, None, ServeConfig(max_k=20)))
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
    routes = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert routes == {
        ("/v1/embed", "post"),
        ("/v1/search", "get"),
        ("/v1/score", "post"),
        ("/v1/items/{kind}/{entity_id}", "get"),
        ("/v1/admin/reload", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    }
    k = next(p for p in schema["paths"]["/v1/search"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["maximum"] == 20  # the config's limits, not constants
    assert schema["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    assert app.app.openapi() is app.app.openapi()  # written once, not per request


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(live_server) -> None:
    import schemathesis  # the dev extra
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_url(live_server.url + "/openapi.json")
    headers = {"authorization": f"Bearer {LIVE_TOKEN}"}
    server_errors: list[str] = []
    start = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def fuzz(case) -> None:
            response = case.call(base_url=live_server.url, headers=headers, timeout=10)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.path} {case.query} {case.body!r}: {response.status_code}"
                )

        fuzz()
    assert server_errors == []
    assert time.monotonic() - start < 60
    assert "Traceback" not in live_server.log.read_text()
    # The fuzzed server re-ranks: /v1/score reached its student, not only the body checks.
    scored = httpx.post(
        live_server.url + "/v1/score", json={"query": "red shoes", "items": [{"type": "pin", "id": "pin0"}]}
    )
    assert scored.status_code == 200 and len(scored.json()["scores"]) == 1
