"""Request parsing for the HTTP API: every bad input becomes a 4xx with one clear sentence, never a 5xx.

Parsing is done by hand on the raw bytes: the framework's decoders replace invalid UTF-8 with U+FFFD
silently, and we want to reject it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from omnisage.config import ServeConfig
from omnisage.text.normalize import normalize


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.status, self.headers = message, status, headers


MAX_ID_CHARS = 512  # an item id in a /v1/score body
SCORED_TYPES = ("pin", "product")  # what the relevance student scores
FLAGS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class SearchRequest:
    query: str  # normalized
    types: tuple[str, ...]
    k: int
    rerank: bool = True  # let a loaded relevance student re-rank pins and products


def clean_query(raw: object, config: ServeConfig, where: str = "query") -> str:
    """The normalized query, or BadRequest when it is not a string, too long, or empty after normalizing."""
    if not isinstance(raw, str):
        raise BadRequest(f"{where} must be a string, got {type(raw).__name__}")
    if len(raw) > config.max_query_chars:
        raise BadRequest(f"{where} is {len(raw)} characters long; the limit is {config.max_query_chars}")
    text = normalize(raw)
    if not text:
        raise BadRequest(f"{where} is empty")
    return text


def max_body_bytes(config: ServeConfig) -> int:
    """The largest /v1/embed body worth parsing: every query at its longest, 8 bytes a character (escapes)."""
    return 8 * config.max_query_chars * max(config.max_queries, 1) + 1024


def _json_body(body: bytes, max_bytes: int) -> Any:
    """The parsed body: 413 when longer than `max_bytes`, 400 when not UTF-8 JSON."""
    if len(body) > max_bytes:
        raise BadRequest("request body too large", status=413)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 JSON ({exc})") from None


def _bounded_list(
    value: object, limit: int, noun: str, not_a_list: str, empty: str | None = None
) -> list[Any]:
    """`value` when it is a list of 1 to `limit` entries; else a 400 saying `not_a_list` (`empty` for []) or a
    413 naming how many `noun` came and the limit."""
    if not isinstance(value, list):
        raise BadRequest(not_a_list)
    if not value:
        raise BadRequest(empty or not_a_list)
    if len(value) > limit:
        raise BadRequest(f"{len(value)} {noun} in one request; the limit is {limit}", status=413)
    return value


def parse_embed_body(body: bytes, config: ServeConfig) -> list[str]:
    """`{"queries": [str, ...]}` or `{"query": str}` -> normalized queries."""
    payload = _json_body(body, max_body_bytes(config))
    if not isinstance(payload, dict) or ("queries" in payload) == ("query" in payload):
        raise BadRequest('body must be a JSON object with "queries": [string, ...] or "query": string')
    if "query" in payload:
        return [clean_query(payload["query"], config)]
    queries = _bounded_list(
        payload["queries"],
        config.max_queries,
        "queries",
        '"queries" must be a list of strings',
        '"queries" is empty',
    )
    return [clean_query(q, config, f"queries[{i}]") for i, q in enumerate(queries)]


def parse_query_string(raw: bytes) -> dict[str, str]:
    """Strict `application/x-www-form-urlencoded` decoding; the first value of a repeated name wins."""
    params: dict[str, str] = {}
    for part in raw.split(b"&"):
        if not part:
            continue
        name_b, _, value_b = part.partition(b"=")
        try:
            name = unquote_to_bytes(name_b.replace(b"+", b" ")).decode("utf-8")
            value = unquote_to_bytes(value_b.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            label = name_b.decode("ascii", "replace")
            raise BadRequest(f"parameter '{label}' is not valid UTF-8") from None
        params.setdefault(name, value)
    return params


def parse_search(raw_query_string: bytes, config: ServeConfig, available: tuple[str, ...]) -> SearchRequest:
    """`q=...&type=pin|product|query[,...]&k=...`; without `type`, the pin, product and query indexes present."""
    params = parse_query_string(raw_query_string)
    if "q" not in params:
        raise BadRequest("missing parameter 'q' (the query text)")
    query = clean_query(params["q"], config, "q")
    if "type" in params:
        types = tuple(dict.fromkeys(t.strip() for t in params["type"].split(",")))
        unknown = [t for t in types if t not in available]
        if unknown or not types:
            raise BadRequest(
                f"unknown type {unknown[0] if unknown else ''!r}; choose from {', '.join(available)}"
            )
    else:
        types = tuple(t for t in ("pin", "product", "query") if t in available)
    k_text = params.get("k", str(config.default_k))
    # int() also takes "5_0", "+5", " 5" and non-ASCII digits ("٥"): accept plain ASCII digits only.
    if not (k_text.isascii() and k_text.isdigit()):
        raise BadRequest(f"k must be an integer, got {k_text!r}")
    k = int(k_text)
    if not 1 <= k <= config.max_k:
        raise BadRequest(f"k must be between 1 and {config.max_k}, got {k}")
    rerank = FLAGS.get(params.get("rerank", "true").lower())
    if rerank is None:
        raise BadRequest(f"rerank must be true or false, got {params['rerank']!r}")
    return SearchRequest(query, types, k, rerank)


def max_score_body_bytes(config: ServeConfig) -> int:
    """The largest /v1/score body worth parsing: the query and every item id at their longest, escaped."""
    return 8 * (config.max_query_chars + config.max_score_items * (MAX_ID_CHARS + 32)) + 1024


def parse_score_body(body: bytes, config: ServeConfig) -> tuple[str, list[tuple[str, str]]]:
    """`{"query": str, "items": [{"type": "pin" | "product", "id": str}, ...]}` -> (normalized query, items)."""
    payload = _json_body(body, max_score_body_bytes(config))
    if not isinstance(payload, dict) or set(payload) != {"query", "items"}:
        raise BadRequest('body must be a JSON object with "query": string and "items": [{"type", "id"}, ...]')
    query = clean_query(payload["query"], config)
    shape = '"items" must be a non-empty list of {"type": "pin" | "product", "id": string}'
    items = _bounded_list(payload["items"], config.max_score_items, "items", shape)
    return query, [_score_item(item, i) for i, item in enumerate(items)]


def _score_item(item: object, i: int) -> tuple[str, str]:
    if not isinstance(item, dict) or set(item) != {"type", "id"}:
        raise BadRequest(f'items[{i}] must be an object {{"type": "pin" | "product", "id": string}}')
    kind, entity_id = item["type"], item["id"]
    if kind not in SCORED_TYPES:
        raise BadRequest(f"items[{i}].type must be one of {', '.join(SCORED_TYPES)}, got {kind!r}")
    if not isinstance(entity_id, str) or not entity_id or len(entity_id) > MAX_ID_CHARS:
        raise BadRequest(f"items[{i}].id must be a string of 1 to {MAX_ID_CHARS} characters")
    return kind, entity_id
