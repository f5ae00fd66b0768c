"""What a search page needs beyond ids: display fields with each hit (`fields=`), one item (`/v1/items`), timing.

The fields come from the item store the index set was loaded with (`omnisage.index.display`), so a hot swap
swaps them too. A plain ids-only search pays one substring test and a clock read for all this: its body is
unchanged, so the hot path's cost is too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omnisage.index.catalog import LEGACY_PREFIX
from omnisage.index.display import FIELDS
from omnisage.serve.service import QueryService
from omnisage.serve.validation import BadRequest, SearchRequest, parse_query_string

ALL = "all"


def parse_fields(raw_query_string: bytes) -> tuple[str, ...] | None:
    """`fields=title,caption` or `fields=all` -> the names asked for (None: ids only)."""
    if b"fields=" not in raw_query_string:
        return None
    text = parse_query_string(raw_query_string).get("fields", "")
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        return None
    known = {n for fields in FIELDS.values() for n in fields}
    unknown = [n for n in names if n != ALL and n not in known]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; choose from all, {', '.join(sorted(known))}")
    return names


async def search_response(
    service: QueryService, req: SearchRequest, raw_query_string: bytes
) -> dict[str, Any]:
    """The /v1/search body: ids and scores; with `fields=`, also each hit's display fields, `took_ms` and
    `cached`. Without it the body is exactly the service's, at exactly its cost (the hot path)."""
    start = time.perf_counter()
    fields = parse_fields(raw_query_string)
    if fields is None:
        return await service.search(req.query, req.types, req.k, req.rerank)
    snap = service.snapshot
    # Whether the in-process tier holds the query embedding (a Redis hit still counts as not cached here).
    cached = service.local.get((snap.version, req.query)) is not None
    body = await service.search(req.query, req.types, req.k, req.rerank)
    items = snap.indexes.items if snap.indexes is not None else None
    for name, hits in body["results"].items():
        kind = name.removeprefix(LEGACY_PREFIX)
        wanted = None if ALL in fields else [f for f in fields if f in FIELDS.get(kind, ())]
        for hit in hits:
            found = items.get(kind, hit["id"], wanted) if items is not None else None
            hit["item"] = found if found is not None else {}
    body["cached"] = cached
    body["took_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return body


def item_response(service: QueryService, kind: str, entity_id: str) -> dict[str, Any]:
    """`GET /v1/items/{type}/{id}`: every display field of one item; 404 when unknown."""
    kind = kind.removeprefix(LEGACY_PREFIX)
    if kind not in FIELDS:
        raise BadRequest(f"unknown type {kind!r}; choose from {', '.join(FIELDS)}", status=404)
    indexes = service.snapshot.indexes
    items = indexes.items if indexes is not None else None
    found = items.get(kind, entity_id) if items is not None else None
    if found is None:
        indexed = indexes is not None and kind in indexes.indexes and entity_id in _ids(indexes, kind)
        if not indexed:
            raise BadRequest(f"no {kind} {entity_id!r}", status=404)
        found = {}  # indexed, but the index set was built without display fields
    return {"type": kind, "id": entity_id, "model_version": service.snapshot.version, "item": found}


def _ids(indexes: Any, kind: str) -> set[str]:
    # Only reached for index sets without an item store: a linear scan is fine there.
    return {str(i) for i in indexes.indexes[kind].ids}


def image_path(service: QueryService, kind: str, entity_id: str) -> Path | None:
    """The local image file `GET /v1/images/{type}/{id}` may send (see `ItemStore.image_path`), or None."""
    indexes = service.snapshot.indexes
    items = indexes.items if indexes is not None else None
    return items.image_path(kind.removeprefix(LEGACY_PREFIX), entity_id) if items is not None else None
