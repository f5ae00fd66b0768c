"""One pipeline definition, two engines: the whole enrichment (full recompute, then a state built and
updated incrementally) gives identical tables on DuckDB and on Spark local mode."""

from __future__ import annotations

from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from omnisage.cli import main
from omnisage.config import EnrichConfig, SparkConfig
from omnisage.errors import OmniSageError
from omnisage.features.engaged_queries import EngagedQueryState
from omnisage.features.engines import open_engine
from omnisage.features.enriched import OUTPUT, run_enrich

from .tiny_world import AS_OF, random_tables, tiny_tables, write_world


def _outputs(out) -> list:
    return [pq.read_table(out / name) for name in (OUTPUT, "engaged_queries.parquet")]


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_enrichment_is_identical_on_both_engines(tmp_path, spark):
    # Full recompute on the hand-made world.
    world = write_world(tmp_path / "tiny", tiny_tables())
    reports = {
        e: run_enrich(world, AS_OF, tmp_path / e, EnrichConfig(engine=e), spark=spark)
        for e in ("duckdb", "spark")
    }
    assert _outputs(tmp_path / "duckdb") == _outputs(tmp_path / "spark")
    assert reports["duckdb"]["coverage"] == reports["spark"]["coverage"]
    assert reports["duckdb"]["inputs"] == reports["spark"]["inputs"]

    # A random world with skew, ties and noisy titles: state built 9 days back, then updated to AS_OF.
    world = write_world(tmp_path / "random", random_tables(seed=12))
    states = {}
    for engine in ("duckdb", "spark"):
        path = tmp_path / f"{engine}-state.parquet"
        for days in (9, 0):
            config = EnrichConfig(engine=engine)
            run_enrich(
                world,
                AS_OF - timedelta(days=days),
                tmp_path / f"{engine}-inc",
                config,
                state_path=path,
                spark=spark,
            )
        keys = ["entity_type", "entity_id", "query_text", "bucket"]
        states[engine] = EngagedQueryState.load(path).table.sort_by([(k, "ascending") for k in keys])
    duck, spark_out = _outputs(tmp_path / "duckdb-inc"), _outputs(tmp_path / "spark-inc")
    assert duck[1].num_rows > 100 and duck == spark_out
    assert states["duckdb"].equals(states["spark"])


def test_enrich_starts_spark_as_the_spark_section_says(tmp_path, monkeypatch):
    """`--set spark.master=...` reaches the session the Spark engine starts (none is started here)."""
    from omnisage.features import engines

    started = []

    def fake_session(config, app="omnisage-enrich"):
        started.append(config)
        raise OmniSageError("no Spark in this test")

    monkeypatch.setattr(engines, "spark_session", fake_session)
    with pytest.raises(OmniSageError, match="no Spark"):
        open_engine("spark", EnrichConfig(), spark_config=SparkConfig(master="spark://head:7077"))
    world = write_world(tmp_path / "world", tiny_tables())
    argv = ["enrich", "--data", str(world), "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "out")]
    assert main([*argv, "--engine", "spark", "--set", "spark.driver_memory=8g", "--no-progress"]) == 2
    assert [(c.master, c.driver_memory) for c in started] == [("spark://head:7077", "4g"), ("local[*]", "8g")]


def test_unknown_engine():
    with pytest.raises(OmniSageError, match="unknown engine"):
        open_engine("flink", EnrichConfig())
