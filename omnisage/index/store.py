"""On-disk pieces every index shares: the row -> entity id table and atomic file writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.errors import OmniSageError


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp file in the same folder, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
