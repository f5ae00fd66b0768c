"""`omnisage train` end to end on the toy data directory: a bundle out, resumable, clear config errors."""

from __future__ import annotations

import json

import pytest

from omnisage.cli import main
from omnisage.config import load_config
from omnisage.train.run import train_model


def _settings(**train) -> list[str]:
    settings = {
        "model.query_encoder": "scratch",
        "model.scratch.layers": 1,
        "model.scratch.hidden": 32,
        "model.dim": 16,
        "model.hash_buckets": 256,
        "model.hash_dim": 16,
        "model.mlp_hidden": 32,
        "model.vocab_min_count": 1,
        "train.batch_size": 16,
        "train.steps": 4,
        "train.warmup_steps": 1,
        "train.sketch_width": 1024,
        "train.log_every": 1,
        "train.checkpoint_every": 2,
        "train.window_end": "2030-01-01",
        "train.window_days": "none",
        **{f"train.{k}": v for k, v in train.items()},
    }
    return [f"{k}={v}" for k, v in settings.items()]


def _config(**train):
    return load_config("tiny", _settings(**train))


@pytest.mark.slow
def test_trains_saves_a_bundle_and_resumes(toy_data_dir, tmp_path):
    from omnisage.model.bundle import load_model

    config = _config()
    summary = train_model(toy_data_dir, tmp_path, config, progress=False, log=lambda *_: None)
    assert summary["steps"] == 4 and summary["resumed_from"] == 0
    assert set(summary["pairs"]) == {"pin", "product_onsite", "product_offsite", "query"}
    assert summary["config"]["model"]["legacy_dim"] == 8  # adopted from the data
    assert summary["config"]["model"]["query_encoder"] == "scratch"
    assert summary["config"]["model"]["scratch"]["hidden"] == 32
    assert set(summary["tasks"]) >= {"pin", "legacy_pin", "query"}
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]

    model = load_model(tmp_path / "model")
    vectors = model.encode_queries(["sofa", "lamp ideas"])
    assert vectors.shape == (2, 16)

    longer = _config(steps=6)
    again = train_model(toy_data_dir, tmp_path, longer, progress=False, log=lambda *_: None)
    assert again["resumed_from"] == 4 and again["steps"] == 6


def test_entity_text_tower_trains_through_the_shared_query_encoder(toy_data_dir, tmp_path):
    """`model.entity_text_tower=query`: the step's pins and products also go through the query encoder; the
    bundle carries the setting and encodes entities with it."""
    from omnisage.model.bundle import load_model

    config = load_config(
        "tiny",
        [*_settings(steps=2), "model.entity_text_tower=query", "model.entity_text_max_tokens=24"],
    )
    summary = train_model(toy_data_dir, tmp_path, config, progress=False, log=lambda *_: None)
    assert summary["steps"] == 2 and "pin" in summary["tasks"]
    model = load_model(tmp_path / "model")
    assert model.config.entity_text_tower == "query"
    rows = [{"entity_type": "product", "entity_id": "x", "title": "oak table", "legacy_vector": None}]
    assert model.encode_entities(rows).shape == (1, 16)


def test_lexical_channel_trains_resumes_and_serves_from_the_bundle(toy_data_dir, tmp_path):
    """`model.query_lexical`: the map both towers share moves in training, survives a resume and is in the
    bundle, whose query vectors then differ from the same bundle's without its lexical term."""
    import numpy as np
    import torch

    from omnisage.model.bundle import load_model
    from omnisage.model.lexical import LexicalChannel

    config = load_config("tiny", [*_settings(steps=2), "model.query_lexical=true"])
    train_model(toy_data_dir, tmp_path, config, progress=False, log=lambda *_: None)
    longer = load_config("tiny", [*_settings(steps=3), "model.query_lexical=true"])
    summary = train_model(toy_data_dir, tmp_path, longer, progress=False, log=lambda *_: None)
    assert summary["resumed_from"] == 2 and summary["steps"] == 3
    model = load_model(tmp_path / "model")
    trained = model.lexical.projection.weight.detach()
    fresh = LexicalChannel(model.config).projection.weight.detach()
    assert trained.shape == fresh.shape
    assert float(fresh.norm()) == pytest.approx(1.0, rel=1e-5)  # any seed starts there
    assert abs(float(trained.norm()) - 1.0) > 1e-4  # training moved it
    queries = ["sofa", "lamp ideas"]
    with_lexical = model.encode_queries(queries)
    tokens = model.query_encoder.tokenize(queries)
    with torch.inference_mode():
        dense = model.query_encoder.eval()(tokens).numpy()
    assert not np.allclose(with_lexical, dense, atol=1e-3)


def test_legacy_only_baseline_trains_no_entity_encoder(toy_data_dir, tmp_path):
    config = _config(towers="legacy", steps=2)
    summary = train_model(toy_data_dir, tmp_path, config, progress=False, log=lambda *_: None)
    assert summary["tasks"] == ["legacy_pin", "legacy_product_onsite", "legacy_product_offsite"]


def test_cli_reports_bad_settings_in_one_line(toy_data_dir, tmp_path, capsys):
    code = main(["train", "--data", str(toy_data_dir), "--out", str(tmp_path), "--set", "train.towers=magic"])
    err = capsys.readouterr().err
    assert code == 2 and "train.towers" in err and "Traceback" not in err
    code = main(
        ["train", "--data", str(toy_data_dir), "--out", str(tmp_path), "--set", "train.negatives_per_pair=-1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "train.negatives_per_pair must be >= 0" in err and "Traceback" not in err
    code = main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert code == 2
