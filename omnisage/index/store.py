"""On-disk pieces every index shares: the row -> entity id table."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.atomic import write_atomic
from omnisage.errors import OmniSageError


def save_ids(directory: Path, ids: np.ndarray) -> None:
    table = pa.table({"entity_id": pa.array([str(i) for i in ids], pa.string())})
    write_atomic(directory / "ids.parquet", lambda fh: pq.write_table(table, fh))


def load_ids(directory: Path) -> np.ndarray:
    path = directory / "ids.parquet"
    if not path.is_file():
        raise OmniSageError(f"{directory}: not an index folder (no ids.parquet)")
    return np.asarray(pq.read_table(path).column("entity_id").to_pylist(), dtype=object)


class VectorIndex(Protocol):
    """What the service and the evaluation need from an index (exact or approximate)."""

    kind: str
    ids: np.ndarray

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: str | Path) -> None: ...
