"""Home Depot product-search relevance CSV into the data contracts, via `omnisage.data.judgments`.

Columns: id, product_uid, product_title, search_term, relevance (mean of three raters, 1–3). A pair with
relevance ≥ 2.67 (at least two of three raters said "highly relevant") is an engagement, a long click. The
ratings carry no time, so each row is stamped `TS_ORIGIN + id minutes`: file order, no meaning.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.data.judgments import JUDGMENTS, Rejections, RelevanceSet, products_table, timestamps
from omnisage.data.scale import HOMEDEPOT
from omnisage.errors import DataError
from omnisage.text.normalize import normalize

COLUMNS = ("id", "product_uid", "product_title", "search_term", "relevance")
ENGAGED_AT = 2.67  # relevance at or above which a judged pair counts as engaged
_ROUNDING = 0.005  # the file prints 8/3 as 2.67; an unrounded 2.6667 must count too
RELEVANCE_RANGE = (1.0, 3.0)
LANG = "en"


def _has_bad_bytes(text: str) -> bool:
    # With errors="surrogateescape", every undecodable byte becomes a lone surrogate in U+DC80..U+DCFF.
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def read_homedepot(path: str | Path, *, lenient: bool = True) -> RelevanceSet:
    """Read a Home Depot relevance CSV. Lenient: bad rows are counted and skipped; strict: the first raises.

    Rejected: malformed rows, bad UTF-8, a missing product id, title or search term, a non-integer or
    duplicate id, a relevance that is not a number in [1, 3], and a repeated (query, product) pair. A product
    listed with two titles keeps its first (counted in `notes["conflicting_titles"]`).
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("file not found", path=where)
    rejections = Rejections(lenient=lenient)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("empty file (no header row)", path=where) from None
        except csv.Error as exc:
            raise DataError(f"malformed CSV header ({exc})", path=where) from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DataError(
                f"missing required column (the file has: {', '.join(header) or 'no columns'})",
                path=where,
                column=missing[0],
            )
        at = {c: header.index(c) for c in COLUMNS}
        rows = _parse_rows(reader, header, at, functools.partial(rejections.reject, where))
    return _relevance_set(rows, rejections, where)


Row = tuple[int, str, str, str, float]  # (id, product_id, title, normalized query, relevance)


def _parse_rows(
    reader: Iterator[list[str]], header: list[str], at: dict[str, int], reject: Callable[..., None]
) -> list[Row]:
    """Valid rows as (id, product_id, title, normalized query, relevance)."""
    out: list[Row] = []
    seen_ids: set[int] = set()
    seen_pairs: set[tuple[str, str]] = set()
    for row, fields in _records(reader, len(header), reject):
        parsed = _parse_cells(row, {c: fields[i].strip() for c, i in at.items()}, seen_ids, reject)
        if parsed is None:
            continue
        row_id, product, _, query, _ = parsed
        if (query, product) in seen_pairs:
            reject(row, "search_term", "repeated (query, product) pair", query)
            continue
        seen_ids.add(row_id)
        seen_pairs.add((query, product))
        out.append(parsed)
    return out


def _records(
    reader: Iterator[list[str]], width: int, reject: Callable[..., None]
) -> Iterator[tuple[int, list[str]]]:
    """(1-based row number, fields) of every row with `width` fields; malformed rows rejected, blank ones skipped."""
    row = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row += 1
            reject(row, "", f"malformed CSV row ({exc})")
            continue
        row += 1
        if not fields:
            continue
        if len(fields) != width:
            reject(row, "", f"malformed row: {len(fields)} fields, expected {width}")
            continue
        yield row, fields


class _Rejected(Exception):
    """A row fails a check: the column, the reason and the offending value (if any) for the rejections file."""

    def __init__(self, column: str, reason: str, *value: object):
        super().__init__(reason)
        self.column, self.reason, self.value = column, reason, value


def _parse_cells(
    row: int, cells: dict[str, str], seen_ids: set[int], reject: Callable[..., None]
) -> Row | None:
    """One row's checked and parsed cells, or None when rejected (the first failing check is the one reported)."""
    try:
        return _checked(cells, seen_ids)
    except _Rejected as r:
        reject(row, r.column, r.reason, *r.value)
        return None


def _checked(cells: dict[str, str], seen_ids: set[int]) -> Row:
    bad = next((c for c in COLUMNS if _has_bad_bytes(cells[c])), None)
    if bad is not None:
        shown = cells[bad].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise _Rejected(bad, "text is not valid UTF-8", shown)
    row_id = _number(cells, "id", int, "id is not an integer")
    if row_id in seen_ids:
        raise _Rejected("id", "duplicate id", row_id)
    for column, reason in (
        ("product_uid", "missing product_uid"),
        ("product_title", "missing product title"),
    ):
        if not cells[column]:
            raise _Rejected(column, reason)
    query = normalize(cells["search_term"])
    if not query:
        raise _Rejected("search_term", "missing search term")
    relevance = _number(cells, "relevance", float, "relevance is not a number")
    if not (math.isfinite(relevance) and RELEVANCE_RANGE[0] <= relevance <= RELEVANCE_RANGE[1]):
        raise _Rejected("relevance", "relevance out of range 1–3", cells["relevance"])
    return row_id, cells["product_uid"], cells["product_title"], query, relevance


def _number(cells: dict[str, str], column: str, kind: Callable[[str], Any], reason: str) -> Any:
    try:
        return kind(cells[column])
    except ValueError:
        raise _Rejected(column, reason, cells[column]) from None


def _relevance_set(rows: list[Row], rejections: Rejections, where: str) -> RelevanceSet:
    titles: dict[str, str] = {}
    conflicts = 0
    for _, product, title, _, _ in rows:
        kept = titles.setdefault(product, title)
        conflicts += kept != title
    products = products_table(list(titles), {"title": list(titles.values()), "lang": [LANG] * len(titles)})
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    relevance = [r[4] for r in rows]
    judgments = pa.Table.from_arrays(
        [
            pa.array([r[3] for r in rows], pa.string()),
            pa.array([LANG] * len(rows), pa.string()),
            pa.array([r[1] for r in rows], pa.string()),
            pa.array(relevance, pa.float32()),
            pa.array([f"{r:g}" for r in relevance], pa.string()),
            pa.array([r >= ENGAGED_AT - _ROUNDING for r in relevance], pa.bool_()),
            timestamps(ids),
        ],
        schema=JUDGMENTS,
    )
    return RelevanceSet(
        "homedepot", [where], HOMEDEPOT, products, judgments, rejections, {"conflicting_titles": conflicts}
    )
