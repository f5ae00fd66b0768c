"""The two engines of the enrichment pipelines: DuckDB embedded by default, Spark at cluster scale.

Both run the *same SQL text*: the pipelines are written in the subset of SQL that DuckDB and Spark SQL read
alike (CTEs, GROUP BY, joins, ROW_NUMBER windows, explicit CASTs, no engine-specific functions), so there is
one definition of each feature. Inputs go in and results come out as Arrow tables.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from omnisage.config import EnrichConfig, SparkConfig
from omnisage.data.io import write_table
from omnisage.errors import MissingExtraError, OmniSageError

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    name: str

    def register(self, name: str, table: pa.Table) -> None:
        """Make `table` queryable as `name` (replacing any earlier table of that name)."""

    def query(self, sql: str) -> pa.Table:
        """Run one SELECT and return its rows (in no particular order)."""

    def close(self) -> None: ...


class DuckDBEngine:
    """In-process DuckDB over Arrow tables (zero-copy registration)."""

    name = "duckdb"

    def __init__(self, threads: int = 0):
        import duckdb

        self._con = duckdb.connect()
        if threads > 0:
            self._con.execute(f"SET threads = {int(threads)}")

    def register(self, name: str, table: pa.Table) -> None:
        self._con.register(name, table)

    def query(self, sql: str) -> pa.Table:
        return self._con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self._con.close()


def spark_session(config: SparkConfig | None = None, app: str = "omnisage-enrich") -> Any:
    """A SparkSession (or the running one) configured by [spark] for the pipelines: UTC, no UI, quiet logs."""
    config = config or SparkConfig()
    try:
        with warnings.catch_warnings():  # PySpark warns about pandas versions we never use
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql import SparkSession
    except ImportError:
        raise MissingExtraError("pyspark", "spark") from None
    if shutil.which("java") is None:
        raise OmniSageError("Spark needs Java 17+: run `make system` (or install openjdk-17-jre-headless)")
    if config.master.startswith("local"):
        # Local mode's Python workers (the UDFs of `embed --engine spark`) run this interpreter, with its omnisage
        # and packages, rather than whatever `python3` is first on PATH; a cluster sets its executors' Python.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(config.master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Spark SQL. Tables are handed over as Parquet files in a scratch folder, as a cluster would read them."""

    name = "spark"

    def __init__(
        self,
        session: Any | None = None,
        *,
        scratch: str | Path | None = None,
        config: SparkConfig | None = None,
    ):
        self._owned = session is None
        self.session = session or spark_session(config)
        self._scratch = Path(tempfile.mkdtemp(prefix="omnisage-spark-", dir=scratch))
        self._views: list[str] = []

    def register(self, name: str, table: pa.Table) -> None:
        # A fresh file per registration: Spark caches file listings, so a path is never rewritten.
        path = write_table(table, self._scratch / f"{name}-{len(self._views)}.parquet")
        self.session.read.parquet(str(path)).createOrReplaceTempView(name)
        self._views.append(name)

    def query(self, sql: str) -> pa.Table:
        with warnings.catch_warnings():  # PySpark checks the pandas version even for Arrow output
            warnings.simplefilter("ignore", FutureWarning)
            return self.session.sql(sql).toArrow()

    def close(self) -> None:
        for name in self._views:
            self.session.catalog.dropTempView(name)
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._owned:
            self.session.stop()


def open_engine(
    name: str,
    config: EnrichConfig | None = None,
    *,
    spark: Any | None = None,
    spark_config: SparkConfig | None = None,
) -> Engine:
    """The engine called `name` ("duckdb" or "spark"); `spark` reuses a running SparkSession, else one is
    started as `spark_config` says."""
    config = config or EnrichConfig()
    if name == "duckdb":
        return DuckDBEngine(config.threads)
    if name == "spark":
        return SparkEngine(spark, config=spark_config)
    raise OmniSageError(f"unknown engine '{name}' (expected one of: {', '.join(ENGINES)})")
