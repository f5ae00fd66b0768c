"""Coercing a raw column (as read from Parquet, CSV or JSONL) to the contract's type (SPEC §1): text, integer,
timestamp (ISO 8601 or epoch seconds, read as UTC) or vector; the first bad cell raises a `DataError` with its row.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from omnisage.errors import DataError
from omnisage.schema import TIMESTAMP

VECTOR_IN = pa.list_(pa.float64())  # a vector parsed from text, before the cast to float32


def _check_utf8(col: pa.ChunkedArray, where: str, name: str) -> pa.ChunkedArray:
    offset = 0
    for chunk in col.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            for i, value in enumerate(chunk.cast(pa.binary()).to_pylist()):
                if value is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        raise DataError(
                            "text is not valid UTF-8", path=where, row=offset + i + 1, column=name
                        ) from None
        offset += len(chunk)
    return col


def _parse_failure(col: pa.ChunkedArray, convert, what: str, where: str, name: str) -> DataError:
    for i, value in enumerate(col.to_pylist()):
        if value is None:
            continue
        try:
            convert(value)
        except (ValueError, TypeError, pa.ArrowException):
            return DataError(f"{what}, got {value!r}", path=where, row=i + 1, column=name)
    return DataError(what, path=where, column=name)


def _to_timestamp(col: pa.ChunkedArray, where: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_timestamp(t):
        return (
            col.cast(pa.timestamp("us", tz=t.tz)).cast(TIMESTAMP)
            if t.tz
            else pc.assume_timezone(col.cast(pa.timestamp("us")), "UTC")
        )
    if pa.types.is_integer(t):  # epoch seconds
        return col.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC")).cast(TIMESTAMP)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        # Each cell is epoch seconds or ISO 8601; an ISO value without a zone offset is read as UTC.
        digits = pc.fill_null(pc.match_substring_regex(col, r"^\s*-?\d+\s*$"), False)
        try:
            epoch = (
                pc.if_else(digits, col, None)
                .cast(pa.int64())
                .cast(pa.timestamp("s", tz="UTC"))
                .cast(TIMESTAMP)
            )
            iso = _iso_to_utc(pc.if_else(digits, None, col))
            return pc.if_else(digits, epoch, iso)
        except pa.ArrowInvalid:

            def parse(v: str) -> None:
                if not v.strip().lstrip("-").isdigit():
                    _iso_to_utc(pa.array([v]))

            raise _parse_failure(
                col, parse, "invalid timestamp (expected ISO 8601 or epoch seconds)", where, name
            ) from None
    raise DataError(f"expected a timestamp, found a column of type {t}", path=where, column=name)


def _iso_to_utc(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    col = pc.replace_substring_regex(pc.utf8_trim_whitespace(col), r"^(\d{4}-\d\d-\d\d)$", r"\1T00:00:00")
    zoned = pc.fill_null(pc.match_substring_regex(col, r"(Z|[+-]\d\d:?\d\d)$"), True)
    return pc.if_else(zoned, col, pc.binary_join_element_wise(col, "Z", "")).cast(TIMESTAMP)


def _to_vector(col: pa.ChunkedArray, where: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):  # CSV: a JSON array per cell

        def parse(v: str) -> list[float]:
            out = json.loads(v)
            if not isinstance(out, list) or not all(isinstance(x, int | float) for x in out):
                raise ValueError(v)
            return out

        try:
            col = pa.chunked_array(
                [pa.array([None if v is None else parse(v) for v in col.to_pylist()], VECTOR_IN)]
            )
        except (ValueError, TypeError):
            raise _parse_failure(
                col, parse, "expected a vector as a JSON array of numbers", where, name
            ) from None
        t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise DataError(
            f"expected a vector (list of numbers), found a column of type {t}", path=where, column=name
        )
    if not (pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type)):
        raise DataError(
            f"expected a vector of numbers, found elements of type {t.value_type}", path=where, column=name
        )
    return col.cast(pa.list_(pa.float32()))


def coerce_column(col: pa.ChunkedArray, kind: pa.DataType, where: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_null(t):
        return (
            pa.chunked_array([pa.nulls(len(col), kind)])
            if not pa.types.is_list(kind)
            else pa.chunked_array([pa.nulls(len(col), pa.list_(pa.float32()))])
        )
    if kind == pa.string():
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return _check_utf8(col.cast(pa.string()), where, name)
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return _check_utf8(_binary_to_string(col), where, name)
        if pa.types.is_integer(t) or pa.types.is_dictionary(t):  # integer ids are common in real logs
            return (
                col.cast(pa.string())
                if not pa.types.is_dictionary(t)
                else coerce_column(col.cast(t.value_type), kind, where, name)
            )
        raise DataError(f"expected text, found a column of type {t}", path=where, column=name)
    if kind == pa.int64():
        if pa.types.is_integer(t):
            return col.cast(pa.int64())
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            try:
                return col.cast(pa.int64())
            except pa.ArrowInvalid:
                raise _parse_failure(col, int, "expected an integer", where, name) from None
        raise DataError(f"expected an integer, found a column of type {t}", path=where, column=name)
    if kind == TIMESTAMP:
        return _to_timestamp(col, where, name)
    if pa.types.is_list(kind):
        return _to_vector(col, where, name)
    raise AssertionError(f"no coercion to {kind}")


def _binary_to_string(col: pa.ChunkedArray) -> pa.ChunkedArray:
    # Reinterpret bytes as text without validation; `_check_utf8` validates right after.
    chunks = [
        pa.Array.from_buffers(pa.string(), len(c), c.buffers(), c.null_count, c.offset)
        for c in col.cast(pa.binary()).chunks
    ]
    return pa.chunked_array(chunks, pa.string())
