"""A randomly initialized 2-layer BERT (hidden 32) with the packaged MiniLM tokenizer, written as a local Hugging Face
folder: it loads like any real query encoder, in a fraction of a second. Shared by the tests that need one."""

from __future__ import annotations

from pathlib import Path


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from omnisage.model.query_encoder import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
