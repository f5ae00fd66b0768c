"""Batch inference on Spark (`omnisage embed --engine spark`): the parts of embed.py, each one a Spark task.

The driver plans exactly as the local engine does (the same manifest, part boundaries and resume rule) and hands
Spark one row per part still to write. `mapInArrow` runs each through `embed_part` in a Python worker, which loads
the model bundle once per process (by path: the model is never pickled) and writes the part atomically under its
final name. So the output is the local engine's, file for file, and a killed job resumes like a killed local run.
Executors must see the bundle, the enriched table and the output folder at the same paths (a shared file system).
Tasks are parts rather than the partitions of a Spark scan of the table: a scan carries no global row number, so
part k = rows [k·P, (k+1)·P) in input order would cost a zipWithIndex pass and a shuffle of the whole table.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnisage.config import InferConfig, SparkConfig
from omnisage.errors import MissingExtraError, OmniSageError
from omnisage.infer.embed import (
    Embedder,
    EmbedReport,
    ParquetRows,
    Part,
    TableRows,
    embed_part,
    open_sources,
    plan_parts,
)

# One row per part: what to embed. Query texts travel in the row (the driver holds them anyway); entity rows are
# read by the task itself from the enriched Parquet, only the row groups its part overlaps.
TASK = pa.schema(
    [
        ("stream", pa.string()),
        ("index", pa.int64()),
        ("start", pa.int64()),
        ("stop", pa.int64()),
        ("texts", pa.list_(pa.string())),
    ]
)
DONE = "stream string, index long, rows long, loaded boolean"  # one row per part written

# (bundle path, version) -> model, in each Python worker process: Spark reuses a worker across tasks
# (spark.python.worker.reuse), so the bundle is read once per process, not once per part.
_MODELS: dict[tuple[str, str], Embedder] = {}


def _worker_model(bundle: str, version: str) -> tuple[Embedder, bool]:
    """The model of this worker process, and whether this call loaded it."""
    if (bundle, version) in _MODELS:
        return _MODELS[(bundle, version)], False
    from omnisage.model.bundle import load_model

    model = load_model(bundle)
    if model.version != version:
        raise OmniSageError(
            f"{bundle} changed during the job (model {model.version}, planned with {version})"
        )
    _MODELS.clear()  # an earlier job's model, in a long-lived worker
    _MODELS[(bundle, version)] = model
    return model, True


def _part_rows(row: dict[str, Any], entities: str | None, batch_size: int) -> Iterator[pa.Table]:
    """The rows of one task's part, in encoder batches: its query texts, or its slice of the enriched table."""
    if row["stream"] == "queries":
        queries = TableRows(pa.table({"query_text": pa.array(row["texts"], pa.string())}))
        return queries.slices(0, queries.num_rows, batch_size)
    return ParquetRows(Path(entities)).slices(row["start"], row["stop"], batch_size)


def _embed_parts(
    batches: Iterator[pa.RecordBatch],
    *,
    bundle: str,
    version: str,
    out: str,
    entities: str | None,
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    """The mapInArrow body: embed and write the part of each task row; yield one row per part written."""
    for batch in batches:
        for row in batch.to_pylist():
            model, loaded = _worker_model(bundle, version)
            part = Part(row["stream"], row["index"], row["start"], row["stop"])
            written = embed_part(model, part, _part_rows(row, entities, batch_size), Path(out))
            yield pa.RecordBatch.from_pylist(
                [{"stream": part.stream, "index": part.index, "rows": written, "loaded": loaded}]
            )


def _task_table(todo: list[Part], sources: dict[str, ParquetRows | TableRows]) -> pa.Table:
    def texts(part: Part) -> list[str] | None:
        source = sources[part.stream]
        if not isinstance(source, TableRows):
            return None
        return source.table.column("query_text")[part.start : part.stop].to_pylist()

    return pa.table(
        {
            "stream": [p.stream for p in todo],
            "index": [p.index for p in todo],
            "start": [p.start for p in todo],
            "stop": [p.stop for p in todo],
            "texts": [texts(p) for p in todo],
        },
        schema=TASK,
    )


def _job_error(exc: Exception) -> OmniSageError:
    """A failed Spark job as one line: the last error of the Python traceback that a task sent back."""
    python_side = str(exc).split("JVM stacktrace:")[0]
    raised = re.findall(r"^\s*([\w.]+(?:Error|Exception)): (.+)$", python_side, re.MULTILINE)
    if not raised:
        first = (python_side.strip().splitlines() or [type(exc).__name__])[0]
        return OmniSageError(f"the Spark embed job failed: {first}")
    name, message = raised[-1]
    if name.startswith("omnisage.errors."):  # the task's own one-line error, as the local engine reports it
        return OmniSageError(message)
    return OmniSageError(f"the Spark embed job failed: {name}: {message}")


def _require_spark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingExtraError("pyspark", "spark") from None
    try:
        import pandas  # noqa: F401  PySpark's Arrow UDFs, mapInArrow included, import it
    except ImportError:
        raise MissingExtraError("pandas", "spark") from None


def embed_all_spark(
    bundle: str | Path,
    out_dir: str | Path,
    config: InferConfig,
    entities: str | Path | None = None,
    queries: str | Path | None = None,
    shard: tuple[int, int] = (0, 1),
    *,
    spark: Any | None = None,
    spark_config: SparkConfig | None = None,
) -> EmbedReport:
    """`embed_all` as a Spark job over the parts still to write; `spark` reuses a running SparkSession, else one
    is started as `spark_config` says."""
    _require_spark()
    from pyspark.errors import PySparkException

    from omnisage.features.engines import spark_session
    from omnisage.model.bundle import bundle_version

    out = Path(out_dir).resolve()
    version = bundle_version(bundle)
    sources = open_sources(entities, queries)
    todo, skipped = plan_parts(out, version, config, sources, shard)
    report = EmbedReport(parts_skipped=skipped)
    if not todo:
        return report
    body = functools.partial(
        _embed_parts,
        bundle=str(Path(bundle).resolve()),
        version=version,
        out=str(out),
        entities=None if entities is None else str(Path(entities).resolve()),
        batch_size=config.batch_size,
    )
    session = spark or spark_session(spark_config, app="omnisage-embed")
    try:
        tasks = session.createDataFrame(_task_table(todo, sources)).repartition(len(todo))  # a task per part
        with warnings.catch_warnings():  # PySpark checks the pandas version even for Arrow output
            warnings.simplefilter("ignore", FutureWarning)
            done = tasks.mapInArrow(body, DONE).toArrow()
    except PySparkException as exc:
        raise _job_error(exc) from None
    finally:
        if spark is None:
            session.stop()
    for row in done.to_pylist():
        report.add(row["stream"], row["rows"])
        report.model_loads += row["loaded"]
    return report
