"""Fixtures of the enrichment tests: the tiny hand-made world, and one SparkSession shared by the whole test
session (Spark takes ~15 s to start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_world import tiny_tables, write_world


@pytest.fixture
def tiny_world(tmp_path: Path) -> Path:
    return write_world(tmp_path / "world", tiny_tables())


@pytest.fixture(scope="session")
def spark():
    from omnisage.features.engines import spark_session

    session = spark_session("local[2]", "2g", 4)
    yield session
    session.stop()
