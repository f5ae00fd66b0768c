"""A query encoder from scratch: the configured shape, seeded weights (shape errors: tests/test_config.py)."""

from __future__ import annotations

import torch

from omnisage.config import ScratchEncoderConfig
from omnisage.model.query_encoder import QueryEncoder
from omnisage.train.scratch_encoder import materialize


def test_same_seed_same_weights_and_the_requested_shape(tmp_path):
    shape = ScratchEncoderConfig(layers=1, hidden=16, heads=2)
    a = materialize(shape, tmp_path / "a", seed=3)
    b = materialize(shape, tmp_path / "b", seed=3)
    ea = QueryEncoder.from_pretrained(a, dim=8)
    eb = QueryEncoder.from_pretrained(b, dim=8)
    assert ea.backbone.config.hidden_size == 16 and ea.backbone.config.num_hidden_layers == 1
    assert ea.backbone.config.intermediate_size == 64  # 0 = 4 x hidden
    for (name, x), (_, y) in zip(ea.backbone.state_dict().items(), eb.backbone.state_dict().items()):
        assert torch.equal(x, y), name
