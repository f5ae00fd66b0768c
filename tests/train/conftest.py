"""Makes `train_toys` (the toy world and toy query encoder) importable by the tests and spawned DDP workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test here on one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory):
    """The toy world as a data directory: raw pins/products/engagements and an enriched entity table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from train_toys import toy_world

    from omnisage.data.io import write_table

    entities, engagements = toy_world()
    folder = tmp_path_factory.mktemp("toy_data")
    for kind, name, key in (("pin", "pins", "pin_id"), ("product", "products", "product_id")):
        rows = entities.filter(pc.equal(entities.column("entity_type"), kind))
        write_table(
            pa.table({key: rows.column("entity_id"), "title": rows.column("title")}),
            folder / f"{name}.parquet",
        )
    write_table(engagements, folder / "engagements.parquet")
    write_table(entities, folder / "enriched_entities.parquet")
    return folder
