"""A query encoder from scratch: the spec's shape, seeded weights, clear errors for a bad spec."""

from __future__ import annotations

import pytest
import torch

from omnisage.errors import OmniSageError
from omnisage.model.query_encoder import QueryEncoder
from omnisage.train.scratch_encoder import materialize, parse_spec


def test_spec_defaults_and_errors():
    assert parse_spec("random:hidden=64") == {
        "layers": 2,
        "hidden": 64,
        "heads": 2,
        "intermediate": 256,
        "positions": 128,
    }
    for bad in ("random:depth=2", "random:hidden=x", "random:hidden=30,heads=4", "random:layers=0"):
        with pytest.raises(OmniSageError):
            parse_spec(bad)


def test_same_seed_same_weights_and_the_requested_shape(tmp_path):
    a = materialize("random:layers=1,hidden=16,heads=2", tmp_path / "a", seed=3)
    b = materialize("random:layers=1,hidden=16,heads=2", tmp_path / "b", seed=3)
    ea = QueryEncoder.from_pretrained(a, dim=8)
    eb = QueryEncoder.from_pretrained(b, dim=8)
    assert ea.backbone.config.hidden_size == 16 and ea.backbone.config.num_hidden_layers == 1
    for (name, x), (_, y) in zip(ea.backbone.state_dict().items(), eb.backbone.state_dict().items()):
        assert torch.equal(x, y), name
