"""Entity encoder: unit vectors of the right shape for pins and products, one set of weights, text matters."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from omnisage.errors import OmniSageError
from omnisage.model.entity_encoder import EntityEncoder
from omnisage.model.features import TEXT_FIELDS, EntityFeaturizer
from omnisage.model.omnisage_model import OmniSageModel
from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary


def _setup(rows, config):
    texts = [
        t for r in rows for f in TEXT_FIELDS for t in (r.get(f) if isinstance(r.get(f), list) else [r.get(f)])
    ]
    vocab = Vocabulary.build(texts, min_count=1)
    torch.manual_seed(0)
    return EntityFeaturizer(TextTokenizer(vocab), config), EntityEncoder(len(vocab), config).eval()


def test_unit_vectors_for_both_types(rows, config):
    featurizer, encoder = _setup(rows, config)
    out = encoder(featurizer(rows))
    assert out.shape == (3, config.dim)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))
    assert encoder(featurizer(rows[1:2])).shape == (1, config.dim)  # a product alone, same weights


def test_text_changes_the_embedding(rows, config):
    featurizer, encoder = _setup(rows, config)
    edited = [dict(r) for r in rows]
    edited[0]["title"] = "oak dining table"
    a, b = encoder(featurizer(rows)), encoder(featurizer(edited))
    assert not torch.allclose(a[0], b[0]) and torch.allclose(a[1:], b[1:])


def test_continuous_only(rows, config):
    config = dataclasses.replace(config, text_fields=())
    featurizer, encoder = _setup(rows, config)
    out = encoder(featurizer(rows))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))


def test_mlp_shape(config):
    encoder = EntityEncoder(10, config)
    linears = [m for m in encoder.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (config.hash_dim + 2 * config.legacy_dim + config.image_dim, config.mlp_hidden),
        (config.mlp_hidden, config.mlp_hidden),
        (config.mlp_hidden, config.dim),
    ]


def test_legacy_residual_starts_at_the_legacy_vector(rows, config):
    """With `legacy_residual` an untrained model returns each entity's normalized legacy vector (zeros
    without one), and training moves it from there."""
    config = dataclasses.replace(config, dim=config.legacy_dim, legacy_residual=True)
    featurizer, encoder = _setup(rows, config)
    model = OmniSageModel(config, featurizer.tokenizer.vocab, None, encoder)  # type: ignore[arg-type]  # entity side
    out = model.encode_entity_batch(featurizer(rows))
    legacy = torch.tensor([rows[0]["legacy_vector"], rows[1]["legacy_vector"]])
    torch.testing.assert_close(out[:2], torch.nn.functional.normalize(legacy, dim=-1))
    assert torch.count_nonzero(out[2]) == 0
    out[:2].sum().backward()
    assert encoder.mlp[-1].weight.grad is not None and encoder.mlp[-1].weight.grad.abs().sum() > 0


def test_continuous_blocks_enter_at_the_text_scale(rows, config):
    """Each unit-vector block is multiplied by sqrt(its width) before the MLP, so a LayerNorm-ed text bag does
    not drown it."""
    featurizer, encoder = _setup(rows, config)
    scale = encoder.continuous_scale
    widths = (config.legacy_dim, config.legacy_dim, config.image_dim)
    assert scale.shape == (sum(widths),)
    assert torch.equal(scale[: config.legacy_dim], torch.full((config.legacy_dim,), config.legacy_dim**0.5))
    assert torch.equal(scale[-config.image_dim :], torch.full((config.image_dim,), config.image_dim**0.5))
    batch = featurizer(rows)
    first = encoder.mlp[0]
    seen = {}
    first.register_forward_hook(lambda _m, inputs, _o: seen.update(x=inputs[0]))
    encoder(batch)
    torch.testing.assert_close(seen["x"][:, config.hash_dim :], batch.continuous * scale)


def test_field_sizes_enter_the_mlp(rows, config):
    """`model.field_sizes`: the MLP reads one more input per list field, so two pins that differ only in how
    many boards they sit on (the same titles repeated: the LayerNorm-ed bag is the same) embed apart."""
    sized = dataclasses.replace(config, field_sizes=True)
    featurizer, encoder = _setup(rows, sized)
    assert encoder.mlp[0].in_features == config.hash_dim + 2 * config.legacy_dim + config.image_dim + 2
    few, many = dict(rows[0], board_titles=["red decor"]), dict(rows[0], board_titles=["red decor"] * 8)
    plain_featurizer, plain = _setup(rows, config)
    torch.testing.assert_close(plain(plain_featurizer([few])), plain(plain_featurizer([many])))
    assert not torch.allclose(encoder(featurizer([few])), encoder(featurizer([many])))
    bare = plain_featurizer(rows)  # a batch without sizes
    with pytest.raises(OmniSageError, match="carries no sizes for its 2 list fields"):
        encoder(bare)
