"""The HTTP API (FastAPI): /v1/embed, /v1/search, /v1/score, /healthz, /metrics, and /v1/admin/reload.

Vectors go out through orjson (or as raw little-endian float32 with `Accept: application/octet-stream`),
never through the framework's generic JSON encoder. Every response names the model version.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from omnisage.errors import MissingExtraError, OmniSageError

try:  # this module is the HTTP layer: without its extra there is nothing to run
    import fastapi
    import orjson
    from fastapi import Request, Response
    from starlette.requests import ClientDisconnect
except ImportError as exc:
    raise MissingExtraError(exc.name or "fastapi", "serve") from None

from omnisage.serve.admin import Reloader, reload_route
from omnisage.serve.body import client_gone, read_body
from omnisage.serve.items import search_response
from omnisage.serve.openapi import install as install_openapi
from omnisage.serve.page import register_page
from omnisage.serve.rerank import UnknownItem
from omnisage.serve.service import QueryService
from omnisage.serve.validation import (
    BadRequest,
    max_body_bytes,
    max_score_body_bytes,
    parse_embed_body,
    parse_score_body,
    parse_search,
)

RAW = "application/octet-stream"
ADMIN_BODY_BYTES = 64 * 1024  # a reload body names two folders


def create_app(service: QueryService, reloader: Reloader | None = None) -> Any:
    """The ASGI app serving `service` (every request timed into its metrics); `reloader` enables hot swaps."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        await service.close()

    app = fastapi.FastAPI(title="omnisage", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(OmniSageError, _unavailable)
    app.add_exception_handler(ClientDisconnect, client_gone)
    # The two hot routes are plain Starlette routes: FastAPI's dependency solving would add ~35 µs of CPU
    # to every request (measured), a third of a cache hit's cost. They parse their input by hand anyway.
    embed, search = _hot_routes(service)
    app.add_route("/v1/embed", embed, methods=["POST"], include_in_schema=False)
    app.add_route("/v1/search", search, methods=["GET"], include_in_schema=False)
    app.add_route("/v1/score", _score_route(service), methods=["POST"], include_in_schema=False)
    metrics = service.metrics

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json_response(await service.health())

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    admin = reload_route(service, reloader, ADMIN_BODY_BYTES)
    app.add_api_route("/v1/admin/reload", admin, methods=["POST"], include_in_schema=False)
    register_page(app, service)  # the search page at / and GET /v1/items/{type}/{id}
    install_openapi(app, service.config)  # documents the hand-parsed routes above
    return _Timed(app, metrics)


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _bad_request(_request: Request, exc: BadRequest) -> Response:
    return _json_response({"error": exc.message}, exc.status, exc.headers)


async def _unavailable(_request: Request, exc: OmniSageError) -> Response:
    return _json_response({"error": str(exc)}, 503)


def _hot_routes(service: QueryService) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The /v1/embed and /v1/search handlers."""
    config = service.config

    async def embed(request: Request) -> Response:
        body = await read_body(request, max_body_bytes(config), config.body_timeout_s)
        queries = parse_embed_body(body, config)
        vectors, version = await service.embed(queries)  # (Q, D)
        if request.headers.get("accept") == RAW:
            headers = {"x-model-version": version, "x-embedding-dim": str(vectors.shape[1])}
            return Response(vectors.astype("<f4").tobytes(), media_type=RAW, headers=headers)
        return _json_response({"model_version": version, "dim": vectors.shape[1], "embeddings": vectors})

    async def search(request: Request) -> Response:
        available = service.search_types()
        if not available:
            raise OmniSageError("this service has no indexes loaded (start it with --indexes)")
        req = parse_search(request.scope["query_string"], service.config, available)
        return _json_response(await search_response(service, req, request.scope["query_string"]))

    return embed, search


def _score_route(service: QueryService) -> Callable[..., Any]:
    """The /v1/score handler: the relevance student's score of given items for one query."""
    config = service.config

    async def score(request: Request) -> Response:
        body = await read_body(request, max_score_body_bytes(config), config.body_timeout_s)
        query, items = parse_score_body(body, config)
        try:
            return _json_response(await service.score(query, items))
        except UnknownItem as exc:
            raise BadRequest(str(exc), status=404) from None

    return score


class _Timed:
    """ASGI wrapper recording each request's route, status and latency (cheaper than HTTP middleware)."""

    def __init__(self, app: Any, metrics: Any):
        self.app, self.metrics = app, metrics
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - start)


def vectors_from_raw(body: bytes, dim: int) -> np.ndarray:
    """Client-side helper: the raw float32 response body -> (Q, D)."""
    return np.frombuffer(body, dtype="<f4").reshape(-1, dim)
