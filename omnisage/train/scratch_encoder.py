"""A query encoder trained from scratch: `model.query_encoder = "random:layers=2,hidden=128"` (SPEC §4).

Training starts from any local Hugging Face folder; this writes one holding a randomly initialized BERT of
the given shape with the embedded MiniLM tokenizer (uncased WordPiece), so small presets and tests need no
download and CPUs train in minutes. Seeded: the same spec and seed give the same initial weights.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from omnisage.errors import OmniSageError

PREFIX = "random:"
DEFAULTS = {"layers": 2, "hidden": 128, "heads": 2, "intermediate": 0, "positions": 128}


def is_scratch(spec: str | None) -> bool:
    return spec is not None and spec.startswith(PREFIX)


def parse_spec(spec: str) -> dict[str, int]:
    """ "random:layers=2,hidden=64" -> the full shape (intermediate 0 means 4 x hidden)."""
    shape = dict(DEFAULTS)
    for item in filter(None, (p.strip() for p in spec[len(PREFIX) :].split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULTS or not value.isdigit() or int(value) < 1:
            raise OmniSageError(
                f"model.query_encoder {spec!r}: expected random:key=positive integer,... "
                f"with keys {', '.join(DEFAULTS)}"
            )
        shape[key] = int(value)
    if shape["hidden"] % shape["heads"]:
        raise OmniSageError(f"model.query_encoder {spec!r}: hidden must be a multiple of heads")
    shape["intermediate"] = shape["intermediate"] or 4 * shape["hidden"]
    return shape


def materialize(spec: str, directory: str | Path, seed: int) -> Path:
    """Write the random encoder of `spec` as a Hugging Face folder (atomically); return its path."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from omnisage.model.query_encoder import _quiet_transformers, default_encoder_path

    shape = parse_spec(spec)
    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["intermediate"],
        max_position_embeddings=shape["positions"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)  # with its (unused) pooler, so that loading initializes nothing at random
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with _quiet_transformers():  # no "Writing model shards" bar in a training log
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory
