"""Captions (paper §3.2.1): a text description of every item's image.

A `Captioner` fills the caption of each item: `PrecomputedCaptions` reads the tables' `caption` column;
`ImageCaptioner` runs a BLIP-style image-to-text model from a local directory, in batches, and keeps every
caption in a SQLite cache keyed by (model, sha256 of the image bytes), so no image is captioned twice —
also across runs, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from omnisage.errors import MissingExtraError, OmniSageError
from omnisage.progress import tqdm


class Captioner(Protocol):
    def captions(self, items: pa.Table, image_root: Path) -> pa.Array:
        """One caption per row of `items` (columns `caption`, `image_ref`), null where there is none."""


def blank_to_null(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text with empty or whitespace-only values turned into nulls."""
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
    return pc.if_else(pc.fill_null(blank, True), pa.nulls(len(text), pa.string()), text)


class PrecomputedCaptions:
    """Captions already in the tables (e.g. written by an offline captioning job)."""

    def captions(self, items: pa.Table, image_root: Path) -> pa.Array:
        return blank_to_null(items.column("caption"))


class CaptionCache:
    """(model key, image sha256) → caption, in one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS captions (model TEXT, sha256 TEXT, caption TEXT, PRIMARY KEY (model, sha256))"
            )
        except sqlite3.DatabaseError as exc:
            raise OmniSageError(
                f"{self.path}: not a usable caption cache ({exc}); delete it to start afresh"
            ) from None

    def get(self, model: str, hashes: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):  # SQLite caps the number of bound parameters
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256, caption FROM captions WHERE model = ? AND sha256 IN ({marks})",
                [model, *chunk],
            )
            found.update(rows.fetchall())
        return found

    def put(self, model: str, captions: dict[str, str]) -> None:
        with self._db:  # one transaction per batch: a crash loses at most the batch in flight
            self._db.executemany(
                "INSERT OR REPLACE INTO captions VALUES (?, ?, ?)",
                [(model, h, c) for h, c in captions.items()],
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM captions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _model_key(model_dir: Path, max_new_tokens: int) -> str:
    """Identifies the model and its generation settings: the config, the weight files' names and sizes."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    digest.update(json.dumps({"max_new_tokens": max_new_tokens}).encode())
    return digest.hexdigest()[:16]


class ImageCaptioner:
    """A BLIP-style model (`BlipForConditionalGeneration` + `BlipProcessor`) loaded from a local directory."""

    def __init__(
        self,
        model_dir: str | Path,
        cache: str | Path,
        *,
        batch_size: int = 16,
        max_new_tokens: int = 30,
        device: str = "cpu",
    ):
        try:
            import PIL  # noqa: F401  (the processor needs it)
        except ImportError:
            raise MissingExtraError("pillow", "captions") from None
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise OmniSageError(
                f"caption model: no config.json in {self.model_dir} (expected a local BLIP directory)"
            )
        try:
            self.processor = BlipProcessor.from_pretrained(self.model_dir)
            self.model = BlipForConditionalGeneration.from_pretrained(self.model_dir).to(device).eval()
        except (OSError, ValueError) as exc:
            raise OmniSageError(f"caption model: cannot load {self.model_dir} ({exc})") from None
        self.device, self.batch_size, self.max_new_tokens = device, batch_size, max_new_tokens
        self.key = _model_key(self.model_dir, max_new_tokens)
        self.cache = CaptionCache(cache)
        self.stats = {"images": 0, "cache_hits": 0, "captioned": 0, "unreadable": 0}

    def caption_images(self, images: Sequence[bytes]) -> list[str | None]:
        """A caption per encoded image (None where the bytes are not a readable image)."""
        import torch

        hashes = [hashlib.sha256(b).hexdigest() for b in images]
        known = self.cache.get(self.key, hashes)
        todo = {h: b for h, b in zip(hashes, images) if h not in known}  # each distinct image once
        self.stats["images"] += len(images)
        self.stats["cache_hits"] += sum(h in known for h in hashes)
        pending = list(todo.items())
        bad: set[str] = set()
        for start in tqdm(
            range(0, len(pending), self.batch_size), desc="captions", unit="batch", disable=len(pending) < 64
        ):
            batch = pending[start : start + self.batch_size]
            decoded = [(h, _open_image(b)) for h, b in batch]
            bad.update(h for h, img in decoded if img is None)
            decoded = [(h, img) for h, img in decoded if img is not None]
            if not decoded:
                continue
            inputs = self.processor(images=[img for _, img in decoded], return_tensors="pt").to(self.device)
            with torch.inference_mode():
                tokens = self.model.generate(
                    pixel_values=inputs["pixel_values"], max_new_tokens=self.max_new_tokens
                )
            texts = [t.strip() for t in self.processor.batch_decode(tokens, skip_special_tokens=True)]
            fresh = {h: t for (h, _), t in zip(decoded, texts)}
            self.cache.put(self.key, fresh)
            known.update(fresh)
            self.stats["captioned"] += len(fresh)
        self.stats["unreadable"] += sum(h in bad for h in hashes)
        return [known.get(h) or None for h in hashes]

    def captions(self, items: pa.Table, image_root: Path) -> pa.Array:
        refs = items.column("image_ref").to_pylist()
        rows, blobs = [], []
        for i, ref in enumerate(refs):
            blob = _read_image(ref, image_root)
            if blob is None:
                self.stats["unreadable"] += ref is not None
                continue
            rows.append(i)
            blobs.append(blob)
        out: list[str | None] = [None] * len(refs)
        for i, text in zip(rows, self.caption_images(blobs)):
            out[i] = text
        return pa.array(out, pa.string())


def _read_image(ref: str | None, root: Path) -> bytes | None:
    """The bytes of a local image (absolute, or relative to the data directory); None for URLs and missing files."""
    if ref is None or not ref.strip() or "://" in ref:  # no network here: remote images are not fetched
        return None
    path = Path(ref) if Path(ref).is_absolute() else root / ref
    try:
        return path.read_bytes()
    except OSError:
        return None


def _open_image(blob: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(blob))
        return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
