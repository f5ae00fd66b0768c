"""Fixtures shared across stages: one SparkSession for the whole test session (Spark takes ~15 s to start), used
by the enrichment engines' and the Spark batch inference's tests; torch on one thread for tiny models."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from omnisage.config import SparkConfig
    from omnisage.features.engines import spark_session

    session = spark_session(SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4))
    yield session
    session.stop()


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: more intra-op threads only add contention (10x slower here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
