"""Legacy product embeddings for real data (issue 6): a frozen off-the-shelf sentence encoder over item text.

No PinSage/ItemSage exists for a public catalog, so the "pre-existing" embedding is the evaluation's zero-shot
encoder (all-MiniLM-L6-v2 by default, mean pooling, L2) over each product's text. It is computed once and
cached on disk, keyed by the encoder and the exact texts; the computation is resumable chunk by chunk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from omnisage.data.io import write_table
from omnisage.eval.baselines import MeanPoolEncoder, item_texts
from omnisage.schema import LEGACY_EMBEDDINGS

CHUNK = 4096  # texts per cached part


def _key(ids: Sequence[str], texts: Sequence[str], encoder: str, max_tokens: int) -> str:
    digest = hashlib.sha256(f"{encoder}\x1e{max_tokens}".encode())
    for entity_id, text in zip(ids, texts):
        digest.update(f"\x1e{entity_id}\x1f{text}".encode())
    return digest.hexdigest()[:20]


def _save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def legacy_embeddings(
    products: pa.Table,
    cache_dir: str | Path,
    *,
    fields: Sequence[str] = ("title", "brand", "color", "description"),
    encoder: str | None = None,
    max_tokens: int = 128,
    progress: bool = True,
) -> pa.Table:
    """A `legacy_embeddings` table (entity_type=product) for every row of `products`, from the cache if there.

    encoder: a local Hugging Face folder, None = the embedded all-MiniLM-L6-v2.
    """
    ids = products.column("product_id").to_pylist()
    texts = item_texts(products, fields)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"legacy-{_key(ids, texts, str(encoder or 'all-MiniLM-L6-v2'), max_tokens)}"
    final = cache_dir / f"{name}.parquet"
    if not final.is_file():
        vectors = _encode_in_parts(texts, cache_dir / f"{name}.parts", encoder, max_tokens, progress)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        table = pa.Table.from_arrays(
            [
                pa.array(["product"] * len(ids), pa.string()),
                pa.array(ids, pa.string()),
                pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            ],
            names=LEGACY_EMBEDDINGS.names,
        )
        write_table(table, final)
        shutil.rmtree(cache_dir / f"{name}.parts", ignore_errors=True)
    return pq.read_table(final)


def _encode_in_parts(
    texts: list[str], parts: Path, encoder: str | None, max_tokens: int, progress: bool
) -> np.ndarray:
    """(N, H) unit vectors; each finished chunk is kept in `parts`, so an interrupted run resumes."""
    parts.mkdir(parents=True, exist_ok=True)
    model: MeanPoolEncoder | None = None
    chunks = []
    starts = range(0, len(texts), CHUNK)
    for start in tqdm(starts, desc="legacy vectors", unit="chunk", disable=not progress):
        path = parts / f"{start // CHUNK:06d}.npy"
        if not path.is_file():
            model = model or MeanPoolEncoder(encoder, max_tokens)
            _save_npy(path, model(texts[start : start + CHUNK]))
        chunks.append(np.load(path))
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
