"""The lexical channel (`model.query_lexical`): the query's hashed n-gram bag and the items' text bag go through
one shared linear map. At step 0 a query scores higher against an item whose text it shares; the map is the
model's parameter (one copy, trained by both sides); the vectors are the composition in OmniSageModel computed by
hand from the parts; bundles keep it; the ONNX serving path adds it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnisage.model.bundle import load_model, save_model
from omnisage.model.features import build_vocabulary
from omnisage.model.omnisage_model import OmniSageModel


def _model(rows, config, encoder_dir, **changes) -> OmniSageModel:
    changes.setdefault("query_lexical", True)
    config = dataclasses.replace(config, query_encoder=str(encoder_dir), **changes)
    return OmniSageModel.create(config, build_vocabulary(rows, config), seed=5)


@pytest.fixture
def model(rows, config, tiny_query_encoder_dir) -> OmniSageModel:
    return _model(rows, config, tiny_query_encoder_dir, dim=32, hash_dim=12)


def test_lexical_term_is_the_bag_cosine_at_step_0(model):
    """P has orthonormal columns scaled by 1/sqrt(hash_dim): P·bag(q) · P·bag(t) == bag(q)·bag(t)/hash_dim,
    the cosine of the two LayerNorm-ed bags; a text scores itself at 1."""
    bag = model.entity_encoder.text  # the hash bag both sides share
    tokens = model.tokenize_queries(["red velvet sofa", "oak dining table"])
    with torch.no_grad():
        bags = bag(tokens["lexical_ids"], tokens["lexical_offsets"])  # (2, H)
        mapped = model.lexical(bags)  # (2, D)
    dots = (mapped @ mapped.T).numpy()
    expected = (bags @ bags.T).numpy() / bags.shape[1]
    np.testing.assert_allclose(dots, expected, atol=1e-5)
    np.testing.assert_allclose(np.diag(dots), 1.0, atol=1e-3)


def test_shared_terms_raise_the_score(model, rows, config, tiny_query_encoder_dir):
    """Untrained model: a query scores its own words' item above the other, by more than the same model
    (same seed, so the same transformer and entity weights) without the channel does."""
    queries = ["red velvet sofa living room", "oak dining table woodcraft"]
    items = rows[:2]  # the sofa pin, the table product
    with_channel = model.encode_queries(queries) @ model.encode_entities(items).T  # (2, 2)
    assert with_channel[0, 0] > with_channel[0, 1] and with_channel[1, 1] > with_channel[1, 0]
    plain = _model(rows, config, tiny_query_encoder_dir, dim=32, hash_dim=12, query_lexical=False)
    baseline = plain.encode_queries(queries) @ plain.encode_entities(items).T

    def margin(s: np.ndarray) -> float:
        return float((s[0, 0] - s[0, 1]) + (s[1, 1] - s[1, 0]))

    assert margin(with_channel) > margin(baseline) + 0.1


def test_both_sides_train_one_map(model, rows):
    """One copy of P, the model's: the entity side's loss reaches it, and the hash table gets a gradient from
    the query side."""
    model.train()
    model.encode_entity_batch(model.featurizer(rows)).sum().backward()
    weight = model.lexical.projection.weight
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    assert not any("lexical" in n for n, _ in model.entity_encoder.named_parameters())
    assert not any("lexical" in n for n, _ in model.query_encoder.named_parameters())
    model.zero_grad()
    table = model.entity_encoder.text.table
    table.grad = None
    model.encode_query_tokens(model.tokenize_queries(["red sofa"])).sum().backward()
    assert table.grad is not None and table.grad.abs().sum() > 0


def test_queries_without_known_terms_are_the_plain_query_vector(model):
    """A query none of whose n-grams are in the vocabulary has an empty bag: only the transformer speaks."""
    model.eval()
    with torch.inference_mode():
        tokens = model.tokenize_queries(["zzqx"])
        assert tokens["lexical_ids"].numel() == 0
        dense = model.query_encoder(model.query_encoder.tokenize(["zzqx"]))
        np.testing.assert_allclose(model.encode_query_tokens(tokens).numpy(), dense.numpy(), atol=1e-6)


def test_vectors_are_the_composition_of_the_parts(model, rows):
    """query = normalize(normalize(transformer) + P·bag(q)), entity = normalize(MLP + P·text bag), by hand."""
    queries = ["red velvet sofa", "oak table"]
    model.eval()
    with torch.inference_mode():
        dense = model.query_encoder(model.query_encoder.tokenize(queries))  # (2, D) unit
        ids, offsets = (model.tokenize_queries(queries)[k] for k in ("lexical_ids", "lexical_offsets"))
        query = F.normalize(dense + model.lexical(model.entity_encoder.text(ids, offsets)), dim=-1)
        batch = model.featurizer(rows)
        text = model.entity_encoder.text_bag(batch)  # (3, H)
        entity = F.normalize(model.entity_encoder.mlp_output(batch, text) + model.lexical(text), dim=-1)
    np.testing.assert_array_equal(model.encode_queries(queries), query.numpy())
    np.testing.assert_array_equal(model.encode_entities(rows, precision="fp32"), entity.numpy())


def test_bundle_round_trip_keeps_the_channel(model, rows, tmp_path):
    with torch.no_grad():
        model.lexical.projection.weight.mul_(1.7)  # not the initial map
    save_model(tmp_path / "bundle", model)
    loaded = load_model(tmp_path / "bundle")
    assert loaded.config.query_lexical
    queries = ["red sofa", "oak table", "zzqx"]
    np.testing.assert_allclose(loaded.encode_queries(queries), model.encode_queries(queries), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_entities(rows), model.encode_entities(rows), atol=1e-6)


@pytest.mark.slow
def test_onnx_serving_holds_the_channel(model, tmp_path):
    """The ONNX export is the whole query side (transformer, lexical term, L2): fp32 serving gives the PyTorch
    model's vectors, on batches of other sizes than the trace's and with empty bags."""
    pytest.importorskip("onnxruntime")
    from omnisage.config import ServeConfig
    from omnisage.serve.server import load_query_embedder

    save_model(tmp_path / "bundle", model)
    embedder = load_query_embedder(tmp_path / "bundle", ServeConfig(encoder="onnx"))
    assert embedder.lexical is not None  # the graph reads the hash-bag ids
    queries = ["red velvet sofa", "oak table for six", "zzqx", "", "living room"]  # "zzqx", "": empty bags
    want = model.encode_queries(queries)
    np.testing.assert_allclose(embedder.encode_queries(queries), want, atol=1e-5)
    for query, row in zip(queries, want):
        np.testing.assert_allclose(embedder.encode_queries([query])[0], row, atol=1e-5)
    dense_only = model.query_encoder.encode(queries).numpy()
    assert not np.allclose(dense_only, want, atol=1e-2)  # the term matters


@pytest.mark.slow
def test_int8_export_quantizes_the_transformer_only(model, tmp_path):
    """Oracle: the int8 vector is the int8 transformer export plus the PyTorch lexical term, renormalized (how
    serving computed it before the term went into the graph): int8 never touches the term."""
    pytest.importorskip("onnxruntime")
    from omnisage.infer.export import OnnxQueryEncoder, ensure_exported, export_query_encoder

    save_model(tmp_path / "bundle", model)
    served = OnnxQueryEncoder(ensure_exported(model, tmp_path / "bundle", int8=True), int8=True)
    encoder = model.query_encoder
    folder = export_query_encoder(encoder, encoder.tokenizer, encoder.max_tokens, "dense", tmp_path / "dense")
    dense = OnnxQueryEncoder(folder, int8=True)
    queries = ["red velvet sofa", "oak table for six", "zzqx", "living room", "a sofa"]
    for batch in ([q] for q in queries):  # int8 activations are quantized per batch: compare batch by batch
        with torch.inference_mode():
            tokens = model.tokenize_queries(batch)
            want = model.add_query_lexical(torch.from_numpy(dense.encode_queries(batch)), tokens).numpy()
        np.testing.assert_allclose(served.encode_queries(batch), want, atol=1e-6)


def test_works_with_the_entity_text_tower(rows, config, tiny_query_encoder_dir):
    """With the query encoder also the entities' text tower, the entity side adds its own text bag's term once
    and the model encodes both sides."""
    model = _model(
        rows,
        config,
        tiny_query_encoder_dir,
        dim=32,
        query_pooling="mean",
        entity_text_tower="query",
        entity_text_fields=("title", "brand"),
        entity_text_max_tokens=16,
    )
    assert model.encode_entities(rows).shape == (3, 32)
    assert model.encode_queries(["red sofa"]).shape == (1, 32)
    assert "lexical_ids" not in model.featurizer(rows).text_tokens
