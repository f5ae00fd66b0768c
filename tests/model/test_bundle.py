"""Model bundle: save -> load gives identical embeddings with no training state, the version hash is stable,
writes are atomic (no temp dirs left, an old bundle replaced), tampering and non-bundles are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest
import torch

from omnisage.config import config_to_dict
from omnisage.errors import OmniSageError
from omnisage.model.bundle import FORMAT_VERSION, _model_config, load_model, save_model
from omnisage.model.features import build_vocabulary
from omnisage.model.hash_embedding import HASH_SEEDS
from omnisage.model.omnisage_model import OmniSageModel

QUERIES = ["red sofa", "ＯＡＫ table", "北京烤鸭", ""]


@pytest.fixture
def model(rows, config, tiny_query_encoder_dir) -> OmniSageModel:
    config = dataclasses.replace(config, query_encoder=str(tiny_query_encoder_dir))
    return OmniSageModel.create(config, build_vocabulary(rows, config), seed=3)


def test_round_trip_gives_identical_embeddings(model, rows, tmp_path):
    version = save_model(tmp_path / "bundle", model)
    loaded = load_model(tmp_path / "bundle")
    assert loaded.version == version == model.version and len(version) == 16
    assert loaded.config == model.config and loaded.vocab.tokens == model.vocab.tokens
    np.testing.assert_array_equal(loaded.encode_queries(QUERIES), model.encode_queries(QUERIES))
    np.testing.assert_array_equal(loaded.encode_entities(rows), model.encode_entities(rows))
    vectors = loaded.encode_entities(rows)
    assert vectors.shape == (3, model.config.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temp dirs left behind


def test_chunked_entities_and_prefix(model, rows):
    table = pa.Table.from_pylist(rows * 3)
    whole = model.encode_entities(table)
    np.testing.assert_allclose(model.encode_entities(table, batch_size=2), whole, atol=1e-6)
    queries = model.encode_queries(QUERIES, dims=8)
    assert queries.shape == (4, 8)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, rtol=1e-5)
    assert model.encode_entities([]).shape == (0, model.config.dim)


def test_encoding_entities_gives_torch_its_threads_back(model, rows):
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # one goes to the featurizing thread during the call
    try:
        model.encode_entities(pa.Table.from_pylist(rows * 3), batch_size=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(OmniSageError, match="precision must be auto, fp32 or bf16, got 'fp16'"):
        model.encode_entities(rows, precision="fp16")


def test_same_model_same_version_and_replace(model, tmp_path):
    first = save_model(tmp_path / "bundle", model)
    assert save_model(tmp_path / "bundle", model) == first  # replaced in place, same content
    model.entity_encoder.text.table.data[0, 0] += 1.0  # any weight change changes the version
    assert save_model(tmp_path / "bundle", model) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_hash_seeds_are_part_of_the_format(model, rows, tmp_path):
    save_model(tmp_path / "bundle", model)
    loaded = load_model(tmp_path / "bundle")
    assert loaded.entity_encoder.text.seeds == model.entity_encoder.text.seeds == HASH_SEEDS
    np.testing.assert_array_equal(loaded.encode_entities(rows), model.encode_entities(rows))


def test_refuses_tampered_bundles_and_other_directories(model, tmp_path):
    save_model(tmp_path / "bundle", model)
    (tmp_path / "bundle" / "vocab" / "unigrams.tsv").write_text("tampered\t1\n")
    with pytest.raises(OmniSageError, match="missing or changed"):
        load_model(tmp_path / "bundle")
    with pytest.raises(OmniSageError, match="not an omnisage model bundle"):
        load_model(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pins.parquet").write_text("x")
    with pytest.raises(OmniSageError, match="not a model bundle"):
        save_model(tmp_path / "data", model)
    assert (tmp_path / "data" / "pins.parquet").read_text() == "x"


def test_config_json_reads_back_and_unknown_settings_are_refused(model, tmp_path):
    assert _model_config(config_to_dict(model.config), tmp_path) == model.config
    saved = config_to_dict(model.config) | {"continuous_scale": "none"}  # a setting since deleted
    with pytest.raises(OmniSageError, match=r"config\.json: .*unknown setting 'model\.continuous_scale'"):
        _model_config(saved, tmp_path)


def test_bundles_of_another_format_version_are_refused_in_one_line(model, tmp_path):
    save_model(tmp_path / "bundle", model)
    manifest = tmp_path / "bundle" / "manifest.json"
    manifest.write_text(
        manifest.read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 1')
    )
    with pytest.raises(
        OmniSageError, match=f"bundle format version 1, this omnisage reads version {FORMAT_VERSION}"
    ):
        load_model(tmp_path / "bundle")


def test_a_full_disk_while_saving_is_one_error_naming_the_bundle(model, tmp_path, monkeypatch):
    """safetensors reports a full disk as its own error type: it used to print a traceback."""
    from safetensors import SafetensorError

    from omnisage.errors import OutputError
    from omnisage.model import bundle

    def disk_full(*args, **kwargs):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, message: "No space left on device" })'
        )

    monkeypatch.setattr(bundle, "save_file", disk_full)
    with pytest.raises(OutputError, match=r"cannot write .*/model: Error while serializing: .*No space left"):
        bundle.save_model(tmp_path / "model", model)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left
