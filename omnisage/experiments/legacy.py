"""Legacy product embeddings for real data: a frozen off-the-shelf sentence encoder over item text.

No PinSage/ItemSage exists for a public catalog, so the "pre-existing" embedding is the evaluation's zero-shot
encoder (all-MiniLM-L6-v2 by default, mean pooling, L2) over each product's text. Vectors are cached on disk
per text (one store per encoder and token limit), so another split, a `--test` file or a reordered catalog
only encodes texts never seen before; each finished chunk is its own file, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisage.atomic import write_atomic
from omnisage.eval.baselines import MeanPoolEncoder
from omnisage.model.features import item_texts
from omnisage.progress import tqdm
from omnisage.schema import LEGACY_EMBEDDINGS

CHUNK = 4096  # texts encoded and saved per part file
_KEY_BYTES = 16


def store_name(encoder: str | None, max_tokens: int) -> str:
    """The cache folder of one encoder at one token limit."""
    digest = hashlib.sha256(f"{encoder or 'all-MiniLM-L6-v2'}\x1e{max_tokens}".encode()).hexdigest()
    return f"legacy-{digest[:16]}"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """(N, 16) uint8: a stable digest of each text (never Python's salted hash)."""
    raw = b"".join(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest()[:_KEY_BYTES] for t in texts)
    return np.frombuffer(raw, np.uint8).reshape(len(texts), _KEY_BYTES)


def _save_part(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    write_atomic(path, lambda fh: np.savez(fh, keys=keys, vectors=vectors))


def _load_store(store: Path) -> tuple[dict[bytes, np.ndarray], int]:
    """Every cached (text key -> vector) of the store, and how many part files hold them."""
    known: dict[bytes, np.ndarray] = {}
    parts = sorted(store.glob("part-*.npz"))
    for path in parts:
        with np.load(path) as part:
            known.update(zip(map(bytes, part["keys"]), part["vectors"]))
    return known, len(parts)


def legacy_embeddings(
    products: pa.Table,
    cache_dir: str | Path,
    *,
    fields: Sequence[str] = ("title", "brand", "color", "description"),
    encoder: str | None = None,
    max_tokens: int = 128,
    progress: bool = True,
) -> pa.Table:
    """A `legacy_embeddings` table (entity_type=product) for every row of `products`; cached texts are reused.

    encoder: a local Hugging Face folder, None = the embedded all-MiniLM-L6-v2.
    """
    ids = products.column("product_id").to_pylist()
    texts = item_texts(products, fields)
    store = Path(cache_dir) / store_name(encoder, max_tokens)
    store.mkdir(parents=True, exist_ok=True)
    keys = [bytes(k) for k in text_keys(texts)]
    known, first = _load_store(store)
    missing = list({k: t for k, t in zip(keys, texts) if k not in known}.items())
    model: MeanPoolEncoder | None = None
    starts = range(0, len(missing), CHUNK)
    for n, start in enumerate(tqdm(starts, desc="legacy vectors", unit="chunk", disable=not progress)):
        chunk = missing[start : start + CHUNK]
        model = model or MeanPoolEncoder(encoder, max_tokens)
        vectors = np.asarray(model([t for _, t in chunk]), np.float32)  # (c, H)
        chunk_keys = np.frombuffer(b"".join(k for k, _ in chunk), np.uint8).reshape(len(chunk), -1)
        _save_part(store / f"part-{first + n:06d}.npz", chunk_keys, vectors)
        known.update(zip((k for k, _ in chunk), vectors))
    width = next(iter(known.values())).shape[0] if known else 1
    vectors = np.stack([known[k] for k in keys]) if keys else np.zeros((0, width), np.float32)  # (N, H)
    return pa.Table.from_arrays(
        [
            pa.array(["product"] * len(ids), pa.string()),
            pa.array(ids, pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), width),
        ],
        names=LEGACY_EMBEDDINGS.names,
    )
