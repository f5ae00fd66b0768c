"""Query encoder on a tiny random BERT: unit vectors of the right shape, normalization before the HF tokenizer,
truncation at max tokens, batch == one by one; compatibility prefixes; the embedded MiniLM loads offline."""

from __future__ import annotations

import pytest
import torch

from omnisage.config import load_config
from omnisage.errors import OmniSageError
from omnisage.model.compatibility import nested_prefixes, prefix, prefix_numpy
from omnisage.model.query_encoder import QueryEncoder


@pytest.fixture
def encoder(tiny_query_encoder_dir) -> QueryEncoder:
    torch.manual_seed(0)
    return QueryEncoder.from_pretrained(tiny_query_encoder_dir, dim=16, max_tokens=8).eval()


def test_unit_vectors(encoder):
    out = encoder.encode(["red sofa", "oak dining table", ""])
    assert out.shape == (3, 16) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))


def test_normalized_before_tokenizing(encoder):
    a = encoder.tokenize(["ＲＥＤ   Sofa "])
    b = encoder.tokenize(["red sofa"])
    assert torch.equal(a["input_ids"], b["input_ids"])
    torch.testing.assert_close(encoder.encode(["ＲＥＤ   Sofa "]), encoder.encode(["red sofa"]))


def test_truncates_at_max_tokens(encoder):
    tokens = encoder.tokenize(["word " * 50])
    assert tokens["input_ids"].shape == (1, 8)


def test_batch_equals_one_by_one(encoder):
    queries = ["red sofa", "a much longer query about a dining table", "lamp"]
    together = encoder.encode(queries, batch_size=3)
    alone = torch.cat([encoder.encode([q]) for q in queries])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)  # padding must not leak


def test_gradients_flow(encoder):
    encoder.train()
    encoder(encoder.tokenize(["red sofa", "lamp"])).sum().backward()
    assert encoder.projection.weight.grad is not None
    assert any(p.grad is not None for p in encoder.backbone.parameters())


def test_prefixes():
    x = torch.randn(4, 32)
    p = prefix(x, 8)
    assert p.shape == (4, 8)
    torch.testing.assert_close(p.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(p * x[:, :8].norm(dim=-1, keepdim=True), x[:, :8])
    assert list(nested_prefixes(x, (8, 16, 32))) == [8, 16, 32]
    assert prefix_numpy(x.numpy(), 8) == pytest.approx(p.numpy(), abs=1e-6)
    with pytest.raises(ValueError):
        prefix(x, 64)


def test_bad_path_is_one_line(tmp_path):
    with pytest.raises(OmniSageError, match="not a Hugging Face model folder"):
        QueryEncoder.from_pretrained(tmp_path, dim=8)


@pytest.mark.slow
def test_embedded_minilm_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = QueryEncoder.from_pretrained(None, dim=32).eval()
    assert encoder.backbone.config.hidden_size == 384
    out = encoder.encode(["red velvet sofa"])
    assert out.shape == (1, 32)


def test_mean_pooling_with_identity_projection_is_the_sentence_encoder_recipe(tiny_query_encoder_dir):
    """Oracle: mean pooling + identity projection == the zero-shot MeanPoolEncoder (mean pooling, L2)."""
    from omnisage.eval.baselines import MeanPoolEncoder

    encoder = QueryEncoder.from_pretrained(
        tiny_query_encoder_dir, dim=32, max_tokens=16, pooling="mean", projection="identity"
    ).eval()
    reference = MeanPoolEncoder(str(tiny_query_encoder_dir), max_tokens=16)
    queries = ["red sofa", "a much longer query about an oak dining table", "lamp"]
    torch.testing.assert_close(
        encoder.encode(queries), torch.from_numpy(reference(queries)), atol=1e-5, rtol=1e-5
    )


def test_bad_pooling_and_projection(tiny_query_encoder_dir):
    with pytest.raises(OmniSageError, match=r"model\.query_pooling: 'max' is not one of 'cls', 'mean'"):
        load_config(None, ["model.query_pooling=max"])
    with pytest.raises(OmniSageError, match="identity needs"):
        QueryEncoder.from_pretrained(tiny_query_encoder_dir, dim=16, projection="identity")


def test_freeze_below_trains_only_the_top_layers(encoder):
    encoder.freeze_below(1)  # the tiny BERT has 2 layers
    encoder.train()
    encoder(encoder.tokenize(["red sofa", "lamp"])).sum().backward()
    layers = encoder.backbone.encoder.layer
    assert all(p.grad is None for p in encoder.backbone.embeddings.parameters())
    assert all(p.grad is None for p in layers[0].parameters())
    assert all(p.grad is not None for p in layers[1].parameters() if p.requires_grad)
    assert encoder.projection.weight.grad is not None
    with pytest.raises(OmniSageError, match="query_trainable_layers"):
        encoder.freeze_below(3)


def test_bucketed_forward_matches_the_padded_batch(tiny_query_encoder_dir):
    """Length buckets cut the padding, never the result: same vectors, same order."""
    encoder = QueryEncoder.from_pretrained(tiny_query_encoder_dir, dim=8, pooling="mean").eval()
    texts = [
        "a",
        "red velvet sofa for a small living room with a view",
        "oak",
        "lamp ideas",
        "x y z w",
        "b",
    ] * 3
    tokens = encoder.tokenize(texts)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.forward_bucketed(tokens, 4), encoder(tokens), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(encoder.forward_bucketed(tokens, 1), encoder(tokens))
