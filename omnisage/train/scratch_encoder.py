"""A query encoder trained from scratch: `model.query_encoder = "scratch"`, shaped by `[model.scratch]` (SPEC §4).

Training starts from any local Hugging Face folder; this writes one holding a randomly initialized BERT of
the configured shape with the embedded MiniLM tokenizer (uncased WordPiece), so small presets and tests need
no download and CPUs train in minutes. Seeded: the same shape and seed give the same initial weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from omnisage.atomic import atomic_folder
from omnisage.config import ScratchEncoderConfig


def materialize(shape: ScratchEncoderConfig, directory: str | Path, seed: int) -> Path:
    """Write the random encoder of `shape` as a Hugging Face folder (atomically); return its path."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from omnisage.model.query_encoder import _quiet_transformers, default_encoder_path

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate or 4 * shape.hidden,
        max_position_embeddings=shape.positions,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)  # with its (unused) pooler, so that loading initializes nothing at random
    with atomic_folder(directory) as tmp, _quiet_transformers():  # no "Writing model shards" bar in a log
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return directory
