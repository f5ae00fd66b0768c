"""A query encoder from scratch: the configured shape, seeded weights, inputs that fit its positions (shape
errors: tests/test_config.py)."""

from __future__ import annotations

import pytest
import torch

from omnisage.config import ModelConfig, ScratchEncoderConfig
from omnisage.errors import OmniSageError
from omnisage.model.query_encoder import QueryEncoder
from omnisage.train.scratch_encoder import POSITIONS, check_fits, materialize


def test_same_seed_same_weights_and_the_requested_shape(tmp_path):
    shape = ScratchEncoderConfig(layers=1, hidden=16, heads=2)
    a = materialize(shape, tmp_path / "a", seed=3)
    b = materialize(shape, tmp_path / "b", seed=3)
    ea = QueryEncoder.from_pretrained(a, dim=8)
    eb = QueryEncoder.from_pretrained(b, dim=8)
    assert ea.backbone.config.hidden_size == 16 and ea.backbone.config.num_hidden_layers == 1
    assert ea.backbone.config.intermediate_size == 64  # 4 x hidden
    for (name, x), (_, y) in zip(ea.backbone.state_dict().items(), eb.backbone.state_dict().items()):
        assert torch.equal(x, y), name


def test_inputs_longer_than_its_positions_are_a_one_line_error():
    check_fits(ModelConfig(max_query_tokens=POSITIONS))
    check_fits(ModelConfig(entity_text_max_tokens=512))  # no entity text goes through the query encoder
    with pytest.raises(OmniSageError, match=r"reads at most 128 tokens: model\.max_query_tokens \(129\)"):
        check_fits(ModelConfig(max_query_tokens=POSITIONS + 1))
    with pytest.raises(OmniSageError, match=r"model\.entity_text_max_tokens \(512\)"):
        check_fits(ModelConfig(entity_text_tower="query", entity_text_max_tokens=512))
