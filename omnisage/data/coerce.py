"""Coercing a raw column (as read from Parquet, CSV or JSONL) to the contract's type: text, integer,
timestamp (ISO 8601 or epoch seconds, read as UTC, in the years 1970-2200) or vector; the first bad cell raises a
`DataError` with its row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

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


# A plausible time: 1970 to 2200. Outside it a value is almost always in the wrong unit (epoch milliseconds read
# as seconds lands tens of thousands of years ahead), which would silently put every log after any cutoff.
_FIRST_YEAR, _END_YEAR = 1970, 2200
_END_S = int(datetime(_END_YEAR, 1, 1, tzinfo=UTC).timestamp())  # epoch seconds of the first instant too late
_HINT_S = int(datetime(1980, 1, 1, tzinfo=UTC).timestamp())  # a unit is suggested when it gives 1980+
_PER_SECOND = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}


def _out_of_range(seconds: int, shown: object, where: str, name: str, row: int) -> DataError:
    hint = ""
    for unit, scale in (("milliseconds", 10**3), ("microseconds", 10**6), ("nanoseconds", 10**9)):
        if _HINT_S <= seconds // scale < _END_S:
            hint = f"; it looks like epoch {unit}: convert to seconds (divide by {scale:,})"
            break
    message = f"timestamp {shown!r} is outside the years {_FIRST_YEAR}-{_END_YEAR}{hint}"
    return DataError(message, path=where, row=row + 1, column=name)


def _check_seconds(seconds: pa.ChunkedArray | pa.Array, raw: pa.ChunkedArray, where: str, name: str) -> None:
    """Epoch seconds (int64, null where not given) must fall in the plausible range; `raw` is shown in errors."""
    bad = pc.fill_null(pc.or_(pc.less(seconds, 0), pc.greater_equal(seconds, _END_S)), False)
    row = pc.index(bad, True).as_py()
    if row >= 0:
        raise _out_of_range(seconds[row].as_py(), raw[row].as_py(), where, name, row)


def _epoch(
    seconds: pa.ChunkedArray | pa.Array, raw: pa.ChunkedArray, where: str, name: str
) -> pa.ChunkedArray:
    _check_seconds(seconds, raw, where, name)
    return seconds.cast(pa.timestamp("s", tz="UTC")).cast(TIMESTAMP)


def _to_timestamp(col: pa.ChunkedArray, where: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_timestamp(t):
        ticks = pc.divide(col.cast(pa.int64()), _PER_SECOND[t.unit])
        _check_seconds(ticks, ticks, where, name)  # before the cast to microseconds, which could overflow
        return (
            col.cast(pa.timestamp("us", tz=t.tz)).cast(TIMESTAMP)
            if t.tz
            else pc.assume_timezone(col.cast(pa.timestamp("us")), "UTC")
        )
    if pa.types.is_integer(t):  # epoch seconds
        return _epoch(col.cast(pa.int64()), col, where, name)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        # Each cell is epoch seconds or ISO 8601; an ISO value without a zone offset is read as UTC.
        digits = pc.fill_null(pc.match_substring_regex(col, r"^\s*-?\d+\s*$"), False)
        try:
            epoch = _epoch(pc.if_else(digits, col, None).cast(pa.int64()), col, where, name)
            iso = _iso_to_utc(pc.if_else(digits, None, col))
        except pa.ArrowInvalid:

            def parse(v: str) -> None:
                if not v.strip().lstrip("-").isdigit():
                    _iso_to_utc(pa.array([v]))

            raise _parse_failure(
                col, parse, "invalid timestamp (expected ISO 8601 or epoch seconds)", where, name
            ) from None
        _check_seconds(pc.divide(iso.cast(pa.int64()), _PER_SECOND["us"]), col, where, name)
        return pc.if_else(digits, epoch, iso)
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


def _to_number(col: pa.ChunkedArray, where: str, name: str) -> pa.ChunkedArray:
    """A finite number per cell: integers and floats as they are, text parsed ("2.33")."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = col.cast(pa.float64())
        except pa.ArrowInvalid:
            raise _parse_failure(col, float, "expected a number", where, name) from None
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise DataError(f"expected a number, found a column of type {t}", path=where, column=name)
    col = col.cast(pa.float64())
    finite = pc.is_finite(col)
    bad = pc.index(pc.fill_null(finite, True), False).as_py()
    if bad >= 0:
        raise DataError(
            f"expected a finite number, found {col[bad].as_py()}", path=where, row=bad + 1, column=name
        )
    return col


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
    if kind == pa.float64():
        return _to_number(col, where, name)
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
