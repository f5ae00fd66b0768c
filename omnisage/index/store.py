"""On-disk pieces every index shares: the row -> entity id table, the FAISS file, the index.json metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.atomic import write_atomic
from omnisage.errors import MissingExtraError, OmniSageError


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MissingExtraError("faiss-cpu", "serve") from None
    return faiss


def save_ids(directory: Path, ids: np.ndarray) -> None:
    table = pa.table({"entity_id": pa.array([str(i) for i in ids], pa.string())})
    write_atomic(directory / "ids.parquet", lambda fh: pq.write_table(table, fh))


def load_ids(directory: Path) -> np.ndarray:
    path = directory / "ids.parquet"
    if not path.is_file():
        raise OmniSageError(f"{directory}: not an index folder (no ids.parquet)")
    return np.asarray(pq.read_table(path).column("entity_id").to_pylist(), dtype=object)


def save_faiss(path: Path, index: Any) -> None:
    blob = import_faiss().serialize_index(index)  # (bytes,) uint8
    write_atomic(path, lambda fh: fh.write(blob.tobytes()))


def load_faiss(path: Path) -> Any:
    return import_faiss().deserialize_index(np.fromfile(path, dtype=np.uint8))


def save_meta(directory: Path, meta: dict[str, Any]) -> None:
    """index.json: the kind and shape the loader checks against the set's manifest, plus the search settings."""
    write_atomic(directory / "index.json", lambda fh: fh.write(json.dumps(meta).encode()))


class VectorIndex(Protocol):
    """What the service and the evaluation need from an index (exact or approximate)."""

    kind: str
    ids: np.ndarray

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def vectors_at(self, rows: np.ndarray) -> np.ndarray: ...  # (n,) rows -> (n, D) float32, as scored

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: str | Path) -> None: ...
