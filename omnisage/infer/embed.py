"""Batch inference (paper §3.6): enriched pins/products and known queries -> embedding Parquet parts.

Input rows are cut into fixed parts of `part_rows`; part k of a stream is rows [k·P, (k+1)·P). Worker i of
n (`--shard i/n`) owns the parts with k % n == i. A part is written atomically, so a killed run restarted
with the same arguments skips every finished part and recomputes only the rest. Memory is bounded by one
part of vectors plus one encoder batch of rows. Two engines run the same per-part code: `embed_all` here, in this
process, and `embed_all_spark` (embed_spark.py), one Spark task per part.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.atomic import make_folder, write_atomic
from omnisage.config import InferConfig
from omnisage.data.io import find_table, read_table, write_table
from omnisage.errors import DataError, OmniSageError
from omnisage.progress import tqdm
from omnisage.schema import QUERIES

MANIFEST = "embeddings.json"
STREAMS = ("entities", "queries")  # output subfolders: pins + products, and queries


class Embedder(Protocol):
    """The slice of the model bundle that batch inference needs."""

    version: str

    def encode_entity_tables(
        self, tables: Iterable[pa.Table]
    ) -> Iterator[np.ndarray]: ...  # (B, D) per table

    def encode_queries(self, queries: list[str]) -> np.ndarray: ...  # (B, D) float32 unit rows


@dataclass
class EmbedReport:
    parts_done: int = 0  # written by this run
    parts_skipped: int = 0  # already on disk from an earlier run
    rows: int = 0  # rows encoded by this run
    per_stream: dict[str, int] = field(default_factory=dict)
    model_loads: int = 0  # Spark engine: how many worker processes loaded the bundle

    def add(self, stream: str, rows: int) -> None:
        """Count one part of `rows` rows written by this run."""
        self.parts_done += 1
        self.rows += rows
        self.per_stream[stream] = self.per_stream.get(stream, 0) + rows


def parse_shard(text: str) -> tuple[int, int]:
    """'2/8' -> (2, 8): this worker's index and the number of workers."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise OmniSageError(f"--shard expects i/n with 0 <= i < n, got {text!r}")
    return i, n


class ParquetRows:
    """Rows of one Parquet file or a folder of parts, read lazily by global row range."""

    def __init__(self, path: Path):
        files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
        if not files:
            raise DataError("no Parquet files", path=str(path))
        self.pieces: list[tuple[pq.ParquetFile, int]] = []  # (file, first global row)
        total = 0
        for f in files:
            try:
                pf = pq.ParquetFile(f)
            except (pa.ArrowException, OSError) as exc:
                raise DataError(f"not a readable Parquet file ({exc})", path=str(f)) from None
            missing = {"entity_type", "entity_id"} - set(pf.schema_arrow.names)
            if missing:
                raise DataError(f"not an enriched entity table (missing {sorted(missing)})", path=str(f))
            self.pieces.append((pf, total))
            total += pf.metadata.num_rows
        self.num_rows = total

    def slices(self, start: int, stop: int, batch: int) -> Iterator[pa.Table]:
        """Tables of at most `batch` rows covering global rows [start, stop), reading only what overlaps."""
        for pf, first in self.pieces:
            offset = first
            for rg in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(rg).num_rows
                lo, hi = max(start, offset), min(stop, offset + n)
                if lo < hi:
                    at = offset  # global row of the next batch; batches before `lo` are skipped unread
                    for rb in pf.iter_batches(batch_size=batch, row_groups=[rg]):
                        a, b = max(lo, at), min(hi, at + rb.num_rows)
                        if a < b:
                            yield pa.Table.from_batches([rb.slice(a - at, b - a)])
                        at += rb.num_rows
                        if at >= hi:
                            break
                offset += n


class TableRows:
    def __init__(self, table: pa.Table):
        self.table, self.num_rows = table, table.num_rows

    def slices(self, start: int, stop: int, batch: int) -> Iterator[pa.Table]:
        for b in range(start, stop, batch):
            yield self.table.slice(b, min(batch, stop - b))


def resolve_input(path: str | Path | None, table: str) -> Path | None:
    """A table given as its file, or as the folder holding it (`enriched_entities.parquet`, `queries.csv`...)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        found = find_table(path, table)
        if found is not None:
            return found
        if table == "enriched_entities" and any(path.glob("*.parquet")):
            return path  # a folder of enriched parts
        raise DataError(f"no '{table}' table in this folder", path=str(path))
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    return path


def _part_path(out: Path, stream: str, k: int) -> Path:
    return out / stream / f"part-{k:05d}.parquet"


def _unreadable(path: Path, exc: Exception) -> DataError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DataError(
        f"not a readable Parquet part ({reason}): it was cut short or damaged; delete it and rerun omnisage embed",
        path=str(path),
    )


def _read_part(path: Path, columns: list[str]) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns).replace_schema_metadata(None)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None


def _part_done(path: Path, version: str) -> bool:
    if not path.is_file():
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    found = meta.get(b"model_version", b"").decode()
    if found != version:
        raise OmniSageError(
            f"{path} holds embeddings of model {found or '?'}, not {version}: use a fresh --out folder"
        )
    return True


def _encoded(
    model: Embedder, stream: str, batches: Iterable[pa.Table]
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Each batch with its (B, D) vectors. Entity batches go through `encode_entity_tables` as one stream, so the
    next batch is featurized while this one is encoded."""
    if stream == "queries":
        for rows in batches:
            yield rows, model.encode_queries(rows.column("query_text").to_pylist())
        return
    pending: collections.deque[pa.Table] = collections.deque()

    def remembered() -> Iterator[pa.Table]:
        for rows in batches:
            pending.append(rows)
            yield rows

    for vectors in model.encode_entity_tables(remembered()):
        yield pending.popleft(), vectors


def _check_manifest(out: Path, version: str, config: InferConfig, totals: dict[str, int]) -> None:
    """Parts are only reusable when the model, the part size and the inputs' row counts are unchanged."""
    want = {"model_version": version, "part_rows": config.part_rows, "rows": totals}
    path = out / MANIFEST
    if path.is_file():
        have = json.loads(path.read_text())
        diff = [k for k in want if have.get(k) != want[k]]
        if diff:
            raise OmniSageError(
                f"{out} was written with other {', '.join(diff)} ({have}); use a fresh --out folder"
            )
        return
    make_folder(out)
    write_atomic(path, lambda fh: fh.write(json.dumps(want, indent=2).encode()))


@dataclass(frozen=True)
class Part:
    """Part `index` of `stream`: rows [start, stop) of that stream's input."""

    stream: str
    index: int
    start: int
    stop: int


def open_sources(
    entities: str | Path | None, queries: str | Path | None
) -> dict[str, ParquetRows | TableRows]:
    """The inputs by stream: the enriched entity table read lazily, the queries' texts in memory."""
    sources: dict[str, ParquetRows | TableRows] = {}
    if entities is not None:
        sources["entities"] = ParquetRows(Path(entities))
    if queries is not None:
        sources["queries"] = TableRows(read_table(Path(queries), QUERIES).select(["query_text"]))
    if not sources:
        raise OmniSageError("nothing to embed: give an enriched entity table and/or a queries table")
    return sources


def plan_parts(
    out: Path,
    version: str,
    config: InferConfig,
    sources: dict[str, ParquetRows | TableRows],
    shard: tuple[int, int],
) -> tuple[list[Part], int]:
    """This worker's parts still to write, and how many of its parts an earlier run already wrote."""
    _check_manifest(out, version, config, {s: src.num_rows for s, src in sources.items()})
    worker, workers = shard
    todo, skipped = [], 0
    for stream, src in sources.items():
        parts = -(-src.num_rows // config.part_rows)
        for k in range(worker, parts, workers):
            if _part_done(_part_path(out, stream, k), version):
                skipped += 1
            else:
                todo.append(
                    Part(stream, k, k * config.part_rows, min((k + 1) * config.part_rows, src.num_rows))
                )
    return todo, skipped


def embed_part(
    model: Embedder,
    part: Part,
    batches: Iterable[pa.Table],
    out: Path,
    on_rows: Callable[[int], object] | None = None,
) -> int:
    """Encode the part's rows, batch by batch, and write the part atomically; returns its row count."""
    kinds, ids, chunks = [], [], []
    for rows, vectors in _encoded(model, part.stream, batches):  # vectors (B, D)
        if part.stream == "queries":
            kinds += ["query"] * rows.num_rows
            ids += rows.column("query_text").to_pylist()
        else:
            kinds += rows.column("entity_type").to_pylist()
            ids += rows.column("entity_id").to_pylist()
        chunks.append(np.asarray(vectors, dtype=np.float32))
        if on_rows is not None:
            on_rows(rows.num_rows)
    matrix = np.concatenate(chunks)  # (P, D)
    write_table(_part_table(kinds, ids, matrix, model.version), _part_path(out, part.stream, part.index))
    return len(ids)


def embed_all(
    model: Embedder,
    out_dir: str | Path,
    config: InferConfig,
    entities: str | Path | None = None,
    queries: str | Path | None = None,
    shard: tuple[int, int] = (0, 1),
) -> EmbedReport:
    """Embed the enriched entity table and/or the queries table into `out_dir/{entities,queries}/part-*.parquet`."""
    out = Path(out_dir)
    sources = open_sources(entities, queries)
    todo, skipped = plan_parts(out, model.version, config, sources, shard)
    report = EmbedReport(parts_skipped=skipped)
    bar = tqdm(total=sum(p.stop - p.start for p in todo), unit="item", unit_scale=True, desc="embed")
    for part in todo:
        batches = sources[part.stream].slices(part.start, part.stop, config.batch_size)
        report.add(part.stream, embed_part(model, part, batches, out, bar.update))
    bar.close()
    return report


def _part_table(kinds: list[str], ids: list[str], matrix: np.ndarray, version: str) -> pa.Table:
    dim = matrix.shape[1]
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), pa.float32()), dim)
    schema = pa.schema(
        [
            pa.field("entity_type", pa.string(), nullable=False),
            pa.field("entity_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("model_version", pa.string(), nullable=False),
        ],
        metadata={"model_version": version},
    )
    columns = [pa.array(kinds), pa.array(ids), vectors, pa.array([version] * len(ids))]
    return pa.Table.from_arrays(columns, schema=schema)


def load_embeddings(out_dir: str | Path, entity_type: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(ids, vectors (N, D), model version) of one entity type from an `embed` output, or None if absent."""
    out = Path(out_dir)
    stream = "queries" if entity_type == "query" else "entities"
    files = sorted((out / stream).glob("part-*.parquet"))
    if not files:
        return None
    manifest = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).is_file() else {}
    expected = -(-manifest.get("rows", {}).get(stream, 0) // manifest.get("part_rows", 1))
    if manifest and len(files) != expected:
        raise OmniSageError(
            f"{out / stream}: {len(files)} of {expected} parts present (finish every --shard before indexing)"
        )
    columns = ["entity_type", "entity_id", "vector", "model_version"]
    table = pa.concat_tables([_read_part(f, columns) for f in files])
    table = table.filter(pc.equal(table.column("entity_type"), entity_type))
    if table.num_rows == 0:
        return None
    versions = pc.unique(table.column("model_version")).to_pylist()
    if len(versions) != 1:
        raise OmniSageError(f"{out}: parts from several model versions {versions}")
    vectors = table.column("vector").combine_chunks()
    matrix = np.asarray(vectors.flatten()).reshape(table.num_rows, vectors.type.list_size)
    return np.asarray(table.column("entity_id").to_pylist(), dtype=object), matrix, versions[0]
