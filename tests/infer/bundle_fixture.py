"""A real, tiny model bundle for batch-inference and serving tests: a 2-layer random BERT query tower with
the packaged MiniLM tokenizer, and a small hash-embedding entity tower; saved with `save_model`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisage.config import ModelConfig
from omnisage.schema import ENRICHED_ENTITIES

from ..tiny_bert import write_tiny_bert

LEGACY_DIM, IMAGE_DIM = 8, 4
TITLES = [
    "red velvet sofa",
    "oak dining table",
    "blue denim jacket",
    "summer dress with flowers",
    "garden tools set",
    "modern floor lamp",
    "leather boots",
    "ceramic vase",
    "wool scarf",
    "kitchen shelf ideas",
]


def enriched_rows(n: int = 60, seed: int = 0) -> pa.Table:
    """`n` enriched pins and products with text, engaged queries and legacy/image vectors."""
    rng = np.random.default_rng(seed)
    kinds = ["pin" if i % 3 else "product" for i in range(n)]
    columns = {f.name: pa.nulls(n, f.type) for f in ENRICHED_ENTITIES}
    columns |= {
        "entity_type": pa.array(kinds),
        "entity_id": pa.array([f"{k}{i}" for i, k in enumerate(kinds)]),
        "title": pa.array([f"{TITLES[i % len(TITLES)]} {i}" for i in range(n)]),
        "engaged_queries": pa.array(
            [[TITLES[i % len(TITLES)].split()[0]] for i in range(n)], pa.list_(pa.string())
        ),
        "legacy_vector": pa.array(
            list(rng.normal(size=(n, LEGACY_DIM)).astype(np.float32)), pa.list_(pa.float32())
        ),
        "image_vector": pa.array(
            list(rng.normal(size=(n, IMAGE_DIM)).astype(np.float32)), pa.list_(pa.float32())
        ),
    }
    return pa.table(columns, schema=ENRICHED_ENTITIES)


def make_tiny_bundle(
    folder: Path, seed: int = 0, legacy_dim: int = LEGACY_DIM, image_dim: int = IMAGE_DIM, dim: int = 16
) -> Path:

    from omnisage.model.bundle import save_model
    from omnisage.model.omnisage_model import OmniSageModel
    from omnisage.text.vocab import Vocabulary

    backbone_dir = write_tiny_bert(folder / "backbone", seed)
    config = ModelConfig(
        dim=dim,
        legacy_dim=legacy_dim,
        image_dim=image_dim,
        hash_buckets=64,
        hash_dim=12,
        mlp_hidden=32,
        vocab_min_count=1,
        query_encoder=str(backbone_dir),
        max_query_tokens=16,
        query_lexical=False,  # the paper's encoders (the lexical channel's serving: tests/model/test_lexical.py)
        field_sizes=False,
    )
    vocab = Vocabulary.build(TITLES, min_count=1)
    model = OmniSageModel.create(config, vocab, seed=seed)
    save_model(folder / "model", model)
    return folder / "model"
