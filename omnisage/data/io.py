"""Reading and writing the input tables: Parquet, CSV and JSONL in, Parquet out.

`read_table` returns an Arrow table with exactly the contract's columns and types, or raises a `DataError`
naming the file, the 1-based data row and the column. Fast paths are vectorized; rows are only walked one
by one to locate an error that a vectorized check has already found. Column coercion lives in `coerce`.
Writes are atomic (omnisage/atomic.py: a temp file, then a rename).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from omnisage.atomic import atomic_path
from omnisage.data.coerce import coerce_column
from omnisage.errors import DataError
from omnisage.schema import TableSpec

FORMATS = (".parquet", ".csv", ".jsonl", ".json")


def find_table(directory: str | Path, name: str) -> Path | None:
    """The file (or folder of Parquet parts) holding table `name` in `directory`, if any."""
    directory = Path(directory)
    found = [directory / f"{name}{ext}" for ext in FORMATS if (directory / f"{name}{ext}").is_file()]
    if (directory / name).is_dir() and any((directory / name).glob("*.parquet")):
        found.append(directory / name)
    if len(found) > 1:
        raise DataError(
            f"table '{name}' is given twice ({', '.join(p.name for p in found)}); keep one",
            path=str(directory),
        )
    return found[0] if found else None


def _read_raw(path: Path, spec: TableSpec) -> pa.Table:
    where = str(path)
    if path.is_dir() or path.suffix == ".parquet":
        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"not a readable Parquet file ({exc})", path=where) from None
    if path.suffix == ".csv":
        try:
            header = pcsv.read_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 16)).schema.names
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                raise DataError("empty file (no header row)", path=where) from None
            header = []
        except pa.ArrowException as exc:
            raise DataError(f"not a readable CSV file ({exc})", path=where) from None
        # Everything comes in as text; `coerce_column` converts and reports the first bad cell.
        convert = pcsv.ConvertOptions(
            column_types={n: pa.string() for n in header},
            strings_can_be_null=True,
            check_utf8=False,
        )
        try:
            return pcsv.read_csv(path, convert_options=convert)
        except pa.ArrowException as exc:
            raise DataError(f"malformed CSV ({exc})", path=where) from None
    if path.suffix in (".jsonl", ".json"):
        try:
            return pjson.read_json(path)
        except pa.ArrowException as exc:
            _locate_json_error(path)
            raise DataError(f"malformed JSON lines ({exc})", path=where) from None
    raise DataError(f"unsupported file type '{path.suffix}' (use {', '.join(FORMATS)})", path=where)


def _locate_json_error(path: Path) -> None:
    """Walk the lines of a JSONL file that Arrow rejected and raise a DataError at the first bad one."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise DataError("text is not valid UTF-8", path=str(path), row=i) from None
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc.msg})", path=str(path), row=i) from None
            if not isinstance(record, dict):
                raise DataError("each line must be a JSON object", path=str(path), row=i)


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int | None:
    idx = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if idx < 0 else idx


def read_table(path: str | Path, spec: TableSpec, *, vector_dim: int | None = None) -> pa.Table:
    """Read one table in any supported format and return it in contract form, or raise DataError."""
    path = Path(path)
    where = str(path)
    raw = _read_raw(path, spec)
    present = set(raw.column_names)
    arrays, fields = [], []
    for column in spec.columns:
        if column.name not in present:
            if column.required:
                raise DataError(
                    f"missing required column (the file has: {', '.join(raw.column_names) or 'no columns'})",
                    path=where,
                    column=column.name,
                )
            arrays.append(pa.chunked_array([pa.nulls(raw.num_rows, column.type)], column.type))
        else:
            arrays.append(coerce_column(raw.column(column.name), column.type, where, column.name))
        fields.append(pa.field(column.name, arrays[-1].type, nullable=column.nullable))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    _check_rows(table, spec, where, vector_dim)
    if spec.vector_column:
        table = _fix_vector_width(table, spec.vector_column)
    return table


def _check_rows(table: pa.Table, spec: TableSpec, where: str, vector_dim: int | None) -> None:
    for column in spec.columns:
        col = table.column(column.name)
        if not column.nullable:
            nulls = pc.is_null(col)
            if column.type == pa.string():
                nulls = pc.or_(nulls, pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
            row = _first_true(nulls)
            if row is not None:
                raise DataError(
                    "empty value in a required column", path=where, row=row + 1, column=column.name
                )
        if column.allowed:
            row = _first_true(pc.invert(pc.is_in(col, pa.array(column.allowed))))
            if row is not None:
                raise DataError(
                    f"unknown {column.name} '{col[row].as_py()}' (expected one of: {', '.join(column.allowed)})",
                    path=where,
                    row=row + 1,
                    column=column.name,
                )
    if spec.name == "engagements":
        _check_actions(table, where)
    if spec.vector_column:
        lengths = pc.list_value_length(table.column(spec.vector_column))
        expected = vector_dim if vector_dim is not None else (lengths[0].as_py() if len(lengths) else None)
        row = _first_true(pc.not_equal(lengths, expected)) if expected is not None else None
        if row is not None:
            raise DataError(
                f"vector has {lengths[row].as_py()} dimensions, expected {expected}",
                path=where,
                row=row + 1,
                column=spec.vector_column,
            )
        values = pc.list_flatten(table.column(spec.vector_column))
        if len(values) and not pc.all(pc.is_finite(values)).as_py():
            row = _first_true(pc.invert(pc.is_finite(values))) // max(expected or 1, 1)
            raise DataError(
                "vector has a NaN or infinite value", path=where, row=row + 1, column=spec.vector_column
            )
    if spec.key:
        _check_unique(table, spec.key, where)


def _check_actions(table: pa.Table, where: str) -> None:
    from omnisage.schema import ACTIONS_BY_ENTITY

    kinds, actions = table.column("entity_type"), table.column("action")
    for kind, allowed in ACTIONS_BY_ENTITY.items():
        bad = pc.and_(pc.equal(kinds, kind), pc.invert(pc.is_in(actions, pa.array(allowed))))
        row = _first_true(bad)
        if row is not None:
            raise DataError(
                f"action '{actions[row].as_py()}' is not valid for entity_type '{kind}' (expected one of: {', '.join(allowed)})",
                path=where,
                row=row + 1,
                column="action",
            )


def _check_unique(table: pa.Table, key: tuple[str, ...], where: str) -> None:
    if table.num_rows == 0:
        return
    counts = table.select(list(key)).group_by(list(key), use_threads=False).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dup.num_rows == 0:
        return
    first = dup.slice(0, 1).to_pylist()[0]
    mask = None
    for k in key:
        m = pc.equal(table.column(k), first[k])
        mask = m if mask is None else pc.and_(mask, m)
    rows = np.flatnonzero(np.asarray(pc.fill_null(mask, False)))
    shown = ", ".join(f"{k}={first[k]!r}" for k in key)
    raise DataError(
        f"duplicate key {shown} (first at row {rows[0] + 1})",
        path=where,
        row=int(rows[1]) + 1,
        column=key[-1],
    )


def _fix_vector_width(table: pa.Table, name: str) -> pa.Table:
    col = table.column(name)
    if table.num_rows == 0:
        return table
    dim = pc.list_value_length(col)[0].as_py()
    flat = pc.list_flatten(col).combine_chunks() if isinstance(col, pa.ChunkedArray) else pc.list_flatten(col)
    fixed = pa.FixedSizeListArray.from_arrays(flat.cast(pa.float32()), dim)
    i = table.column_names.index(name)
    return table.set_column(i, pa.field(name, fixed.type, nullable=False), fixed)


def write_table(table: pa.Table, path: str | Path, *, row_group_size: int = 1 << 20) -> Path:
    """Write Parquet atomically (no half-written output)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd")
    return Path(path)


class AtomicParquetWriter:
    """Stream record batches into one Parquet file that appears only when the writer closes cleanly."""

    def __init__(self, path: str | Path, schema: pa.Schema):
        self._target = atomic_path(path)
        self._tmp = self._target.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def write(self, batch: pa.Table | pa.RecordBatch) -> None:
        self._writer.write(batch)

    def __enter__(self) -> AtomicParquetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.close()
        self._target.__exit__(exc_type, exc, tb)  # renamed into place, or removed after an error
