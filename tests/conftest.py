"""Fixtures shared across stages: one SparkSession for the whole test session (Spark takes ~15 s to start), used
by the enrichment engines' and the Spark batch inference's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from omnisage.features.engines import spark_session

    session = spark_session("local[2]", "2g", 4)
    yield session
    session.stop()
