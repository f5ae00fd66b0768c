"""The admin route, POST /v1/admin/reload: a hot swap of model, indexes and student, behind a bearer token.

No token configured (`serve.admin_token`, or OMNISAGE_ADMIN_TOKEN which wins) = no admin route. Only
`application/json` bodies are accepted, so a web page cannot send one cross-site without a CORS preflight.
See SECURITY.md.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from omnisage.config import ServeConfig
from omnisage.errors import OmniSageError
from omnisage.index.catalog import IndexSet
from omnisage.serve.body import read_body
from omnisage.serve.rerank import Reranker
from omnisage.serve.service import QueryEmbedder, QueryService
from omnisage.serve.validation import BadRequest

TOKEN_ENV = "OMNISAGE_ADMIN_TOKEN"
JSON = "application/json"
# Loads a new model + indexes (+ relevance student) from the reload request's JSON body ({} = the paths last
# loaded); a reloader may return the first two only (no student).
Reloader = Callable[
    [dict[str, Any]],
    tuple[QueryEmbedder, IndexSet | None] | tuple[QueryEmbedder, IndexSet | None, Reranker | None],
]


def admin_token(config: ServeConfig) -> str | None:
    """The admin bearer token: the environment variable, else the config; None (or empty) = admin off."""
    return os.environ.get(TOKEN_ENV) or config.admin_token or None


def authorize(request: Request, token: str | None) -> None:
    """BadRequest unless the request carries `Authorization: Bearer <token>` (compared in constant time)."""
    if token is None:
        raise BadRequest(
            f"admin routes are off: set serve.admin_token or {TOKEN_ENV} to enable them", status=404
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise BadRequest(
            "missing or wrong admin token (Authorization: Bearer TOKEN)",
            status=401,
            headers={"www-authenticate": "Bearer"},
        )


def reload_route(service: QueryService, reloader: Reloader | None, max_bytes: int) -> Callable[..., Any]:
    """The /v1/admin/reload handler: load a new model, indexes and student off the event loop, then swap them
    in; the response names the served versions (the student's too, `<model>+student-<student>`)."""
    token = admin_token(service.config)

    async def reload(request: Request) -> Response:
        authorize(request, token)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != JSON:
            raise BadRequest(f"the body must be {JSON}, got {media_type or 'none'!r}", status=415)
        if reloader is None:
            raise BadRequest("hot swap is not configured for this service", status=404)
        body = await read_body(request, max_bytes, service.config.body_timeout_s)
        try:
            spec = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not valid JSON ({exc})") from None
        if not isinstance(spec, dict):
            raise BadRequest('body must be a JSON object like {"model": DIR, "indexes": DIR, "student": DIR}')
        try:
            parts = await asyncio.to_thread(reloader, spec)
            previous, version = await service.swap(*parts)
        except OmniSageError as exc:
            raise BadRequest(f"reload failed, still serving the old model: {exc}", status=409) from None
        payload = {"model_version": version, "previous": previous}
        return Response(orjson.dumps(payload), media_type=JSON)

    return reload
