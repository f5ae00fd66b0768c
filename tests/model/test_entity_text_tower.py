"""The entity text tower (`model.entity_text_tower = "query"`): a pin/product's own text through the query
encoder, weights shared. An untrained model scores as the zero-shot two-tower model; gradients of the entity
side reach the shared layers; a bundle round trip keeps it; a leaking field is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from omnisage.config import load_config
from omnisage.errors import OmniSageError
from omnisage.model.bundle import load_model, save_model
from omnisage.model.features import build_vocabulary, item_texts
from omnisage.model.omnisage_model import OmniSageModel

FIELDS = ("title", "brand", "color", "description")


@pytest.fixture
def model(rows, config, tiny_query_encoder_dir) -> OmniSageModel:
    config = dataclasses.replace(
        config,
        query_encoder=str(tiny_query_encoder_dir),
        query_pooling="mean",
        entity_text_tower="query",
        entity_text_fields=FIELDS,
        entity_text_max_tokens=16,
    )
    return OmniSageModel.create(config, build_vocabulary(rows, config), seed=3)


def test_untrained_entity_is_the_query_encoder_over_its_own_text(model, rows):
    """The MLP starts at zero, so each entity is exactly the query tower's vector of its joined text (cut at
    entity_text_max_tokens): step 0 is the zero-shot two-tower model."""
    from omnisage.model.features import as_table

    texts = item_texts(as_table(rows), FIELDS)
    assert texts[1] == "Oak dining table . Woodcraft . brown"
    model.eval()
    with torch.inference_mode():
        expected = model.query_encoder(model.query_encoder.tokenize(texts, max_tokens=16)).numpy()
    np.testing.assert_allclose(model.encode_entities(rows, precision="fp32"), expected, atol=1e-5)
    a = model.encode_entities([dict(rows[1], description=" ".join(["word"] * 200))])
    b = model.encode_entities([dict(rows[1], description=" ".join(["word"] * 300))])
    np.testing.assert_allclose(a, b, atol=1e-6)  # both cut at 16 tokens


def test_entity_gradients_reach_the_shared_query_layers(model, rows):
    """One loss on entity vectors only: the query encoder's top layer gets a gradient through the entity side,
    and the model holds one copy of those weights (the tower is not a second submodule)."""
    model.train()
    batch = model.featurizer(rows)
    model.encode_entity_batch(batch).sum().backward()
    layer = model.query_encoder.backbone.encoder.layer[-1].output.dense.weight
    assert layer.grad is not None and layer.grad.abs().sum() > 0
    names = [n for n, _ in model.entity_encoder.named_parameters()]
    assert not any("backbone" in n for n in names)


def test_bundle_round_trip_keeps_the_tower(model, rows, tmp_path):
    save_model(tmp_path / "bundle", model)
    loaded = load_model(tmp_path / "bundle")
    assert loaded.config.entity_text_tower == "query"
    np.testing.assert_array_equal(loaded.encode_entities(rows), model.encode_entities(rows))


def test_engaged_queries_are_refused_in_the_tower_text(config):
    with pytest.raises(OmniSageError, match="entity_text_fields: engaged_queries"):
        dataclasses.replace(
            config, entity_text_tower="query", entity_text_fields=("title", "engaged_queries")
        )


def test_unknown_tower_is_refused():
    with pytest.raises(
        OmniSageError, match=r"model\.entity_text_tower: 'bert' is not one of 'none', 'query'"
    ):
        load_config(None, ["model.entity_text_tower=bert"])
