"""The search page at `/` and its item route: static HTML/CSS/JS shipped in the package (no build step, no CDN).

`register_page` adds `/`, `/static/*`, `GET /v1/items/{type}/{id}` and `/v1/images/{type}/{id}` (an item's
local image file, when it has a safe one) to the app; the page itself only calls
the public API (/healthz, /v1/search with `fields=all`, /v1/items).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from omnisage.serve.items import image_path, item_response
from omnisage.serve.service import QueryService

STATIC = Path(__file__).parent / "static"


def register_page(app: Any, service: QueryService) -> None:
    """Mount the page and the item lookup on `app` (a FastAPI app)."""
    index_html = (STATIC / "index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return Response(index_html, media_type="text/html; charset=utf-8")

    @app.get("/v1/items/{kind}/{entity_id:path}")
    async def item(kind: str, entity_id: str) -> Response:
        body = orjson.dumps(item_response(service, kind, entity_id))
        return Response(body, media_type="application/json")

    @app.get("/v1/images/{kind}/{entity_id:path}", include_in_schema=False)
    async def image(kind: str, entity_id: str) -> Response:
        path = image_path(service, kind, entity_id)
        if path is None:
            return Response(b'{"error": "no local image for this item"}', 404, media_type="application/json")
        return FileResponse(path)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
