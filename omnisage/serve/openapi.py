"""The OpenAPI schema of the service, built once per app: FastAPI's for its own routes, plus the routes that
parse their input by hand (/v1/embed, /v1/search, /v1/admin/reload), described here from the config's limits."""

from __future__ import annotations

from typing import Any

from omnisage.config import ServeConfig

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
HIT = {"type": "object", "properties": {"id": {"type": "string"}, "score": {"type": "number"}}}


def _responses(**codes: str) -> dict[str, Any]:
    """Error responses: {"error": one sentence} as JSON."""
    return {
        code.lstrip("_"): {"description": text, "content": {"application/json": {"schema": ERROR}}}
        for code, text in codes.items()
    }


def _ok(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}, **extra}}


def _embed(config: ServeConfig) -> dict[str, Any]:
    query = {"type": "string", "minLength": 1, "maxLength": config.max_query_chars}
    body = {
        "oneOf": [
            {"type": "object", "properties": {"query": query}, "required": ["query"]},
            {
                "type": "object",
                "properties": {"queries": {"type": "array", "items": query, "minItems": 1}},
                "required": ["queries"],
            },
        ]
    }
    out = {
        "type": "object",
        "properties": {
            "model_version": {"type": "string"},
            "dim": {"type": "integer"},
            "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        },
    }
    raw = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "post": {
            "summary": "Query embeddings (unit vectors), cached per model version and normalized query",
            "operationId": "embed",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": _ok(
                    "embeddings; raw little-endian float32 with Accept: application/octet-stream", out, **raw
                ),
                **_responses(_400="bad input", _408="body too slow", _413="too many queries or bytes"),
                **_responses(_503="the encoder is unavailable"),
            },
        }
    }


def _search(config: ServeConfig) -> dict[str, Any]:
    params = [
        ("q", True, {"type": "string", "minLength": 1, "maxLength": config.max_query_chars}),
        ("type", False, {"type": "string", "description": "comma-separated: pin, product, query, legacy_*"}),
        ("k", False, {"type": "integer", "minimum": 1, "maximum": config.max_k, "default": config.default_k}),
        (
            "fields",
            False,
            {"type": "string", "description": "display fields with each hit: comma-separated or all"},
        ),
    ]
    out = {
        "type": "object",
        "properties": {
            "model_version": {"type": "string"},
            "query": {"type": "string"},
            "k": {"type": "integer"},
            "results": {"type": "object", "additionalProperties": {"type": "array", "items": HIT}},
        },
    }
    return {
        "get": {
            "summary": "Top-k pins, products and related queries for one query",
            "operationId": "search",
            "parameters": [{"name": n, "in": "query", "required": r, "schema": s} for n, r, s in params],
            "responses": {
                "200": _ok("top-k ids and scores per entity type", out),
                **_responses(_400="bad input", _503="no indexes loaded"),
            },
        }
    }


def _reload() -> dict[str, Any]:
    folder = {"type": ["string", "null"], "description": "a folder on the server"}
    body = {
        "type": "object",
        "properties": {"model": folder, "indexes": folder},
        "additionalProperties": False,
    }
    out = {
        "type": "object",
        "properties": {"model_version": {"type": "string"}, "previous": {"type": "string"}},
    }
    codes = {"_400": "bad body", "_401": "missing or wrong token", "_404": "admin routes are off"}
    codes |= {"_408": "body too slow", "_409": "reload rejected, the old model keeps serving"}
    codes |= {"_413": "body too large", "_415": "the body is not application/json"}
    return {
        "post": {
            "summary": "Hot swap: load a model bundle and index set, then serve them (SECURITY.md)",
            "operationId": "reload",
            "security": [{"adminToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _ok("the new and the replaced model version", out), **_responses(**codes)},
        }
    }


def hand_written(config: ServeConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, security schemes) of the routes FastAPI does not describe."""
    paths = {"/v1/embed": _embed(config), "/v1/search": _search(config), "/v1/admin/reload": _reload()}
    return paths, {"adminToken": {"type": "http", "scheme": "bearer"}}


def install(app: Any, config: ServeConfig) -> None:
    """Make `app.openapi()` return FastAPI's schema plus the hand-written routes, built on first use."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            paths, schemes = hand_written(config)
            schema["paths"] = {**schema.get("paths", {}), **paths}
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
