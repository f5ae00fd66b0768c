"""Fixtures of the enrichment tests: the tiny hand-made world (the shared SparkSession is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_world import tiny_tables, write_world


@pytest.fixture
def tiny_world(tmp_path: Path) -> Path:
    return write_world(tmp_path / "world", tiny_tables())
