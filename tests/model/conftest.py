"""Shared fixtures for the model tests: a handful of enriched pin/product rows and a small model config."""

from __future__ import annotations

import numpy as np
import pytest

from omnisage.config import ModelConfig

from ..tiny_bert import write_tiny_bert

LEGACY, IMAGE = 8, 4


def _vector(seed: int, dim: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32).tolist()


@pytest.fixture
def rows() -> list[dict]:
    return [
        {
            "entity_type": "pin",
            "entity_id": "p1",
            "title": "Red velvet sofa",
            "description": "A cosy sofa for the living room",
            "caption": "a red sofa in a bright room",
            "board_titles": ["living room ideas", "red decor"],
            "engaged_queries": ["red sofa", "velvet couch", "living room"],
            "legacy_vector": _vector(1, LEGACY),
            "image_vector": _vector(2, IMAGE),
        },
        {
            "entity_type": "product",
            "entity_id": "q1",
            "title": "Oak dining table",
            "brand": "Woodcraft",
            "color": "brown",
            "engaged_queries": ["dining table", "oak table"],
            "legacy_vector": _vector(3, LEGACY),
        },
        {"entity_type": "pin", "entity_id": "p2", "caption": "北京烤鸭 recipe"},  # no text but a caption
    ]


@pytest.fixture
def config() -> ModelConfig:
    return ModelConfig(
        dim=16,
        legacy_dim=LEGACY,
        image_dim=IMAGE,
        hash_buckets=64,
        hash_dim=12,
        mlp_hidden=32,
        vocab_min_count=1,
        query_lexical=False,  # the extensions are switched on by the tests that check them
        field_sizes=False,
    )


@pytest.fixture(scope="session")
def tiny_query_encoder_dir(tmp_path_factory):
    """A randomly initialized 2-layer BERT (hidden 32) with the packaged MiniLM tokenizer, saved as a local
    Hugging Face folder: loads like any real encoder, in a fraction of a second."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
