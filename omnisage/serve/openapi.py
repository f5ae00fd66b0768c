"""The OpenAPI schema of the service, built once per app: FastAPI's for its own routes, plus the routes that
parse their input by hand (/v1/embed, /v1/search, /v1/score, /v1/admin/reload), described here from the
config's limits."""

from __future__ import annotations

from typing import Any

from omnisage.config import ServeConfig
from omnisage.serve.validation import MAX_ID_CHARS, SCORED_TYPES

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
HIT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "score": {"type": "number", "description": "the first stage's: query embedding · item embedding"},
        "relevance": {
            "type": "number",
            "description": "the relevance student's expected label (only when it re-ranked this hit)",
        },
    },
}


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
        (
            "rerank",
            False,
            {
                "type": "string",
                "enum": ["true", "false", "1", "0"],
                "default": "true",
                "description": "false: the first stage only, even when a relevance student is loaded",
            },
        ),
    ]
    out = {
        "type": "object",
        "properties": {
            "model_version": {"type": "string"},
            "student": {"type": "string", "description": "the student that re-ranked pins and products"},
            "query": {"type": "string"},
            "k": {"type": "integer"},
            "results": {"type": "object", "additionalProperties": {"type": "array", "items": HIT}},
        },
    }
    return {
        "get": {
            "summary": "Top-k pins, products and related queries for one query; with a relevance student, "
            "pins and products are its top k of the first stage's top N",
            "operationId": "search",
            "parameters": [{"name": n, "in": "query", "required": r, "schema": s} for n, r, s in params],
            "responses": {
                "200": _ok("top-k ids and scores per entity type", out),
                **_responses(_400="bad input", _503="no indexes loaded"),
            },
        }
    }


def _score(config: ServeConfig) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(SCORED_TYPES)},
            "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
        },
        "required": ["type", "id"],
        "additionalProperties": False,
    }
    body = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": config.max_query_chars},
            "items": {"type": "array", "items": item, "minItems": 1, "maxItems": config.max_score_items},
        },
        "required": ["query", "items"],
        "additionalProperties": False,
    }
    out = {
        "type": "object",
        "properties": {
            "scores": {"type": "array", "items": {"type": "number"}},
            "model_version": {"type": "string"},
            "student": {"type": "string"},
        },
    }
    codes = {"_400": "bad input", "_404": "an item the served catalog lacks (the first is named)"}
    codes |= {"_408": "body too slow", "_413": "too many items or bytes", "_503": "no student loaded"}
    return {
        "post": {
            "summary": "The relevance student's expected label of each item for one query, in order",
            "operationId": "score",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _ok("one score per item", out), **_responses(**codes)},
        }
    }


def _reload() -> dict[str, Any]:
    folder = {"type": ["string", "null"], "description": "a folder on the server"}
    body = {
        "type": "object",
        "properties": {"model": folder, "indexes": folder, "student": folder},
        "additionalProperties": False,
    }
    version = {"type": "string", "description": "the served version: <model>[+student-<student>]"}
    out = {"type": "object", "properties": {"model_version": version, "previous": version}}
    codes = {"_400": "bad body", "_401": "missing or wrong token", "_404": "admin routes are off"}
    codes |= {"_408": "body too slow", "_409": "reload rejected, the old model keeps serving"}
    codes |= {"_413": "body too large", "_415": "the body is not application/json"}
    return {
        "post": {
            "summary": "Hot swap: load a model bundle, index set and relevance student, then serve them "
            "(SECURITY.md)",
            "operationId": "reload",
            "security": [{"adminToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _ok("the new and the replaced model version", out), **_responses(**codes)},
        }
    }


def hand_written(config: ServeConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, security schemes) of the routes FastAPI does not describe."""
    paths = {
        "/v1/embed": _embed(config),
        "/v1/search": _search(config),
        "/v1/score": _score(config),
        "/v1/admin/reload": _reload(),
    }
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
