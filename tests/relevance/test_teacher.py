"""The relevance teacher on a tiny random BERT: it overfits a handful of labelled pairs (levels and mean scales), a
resumed training ends where an uninterrupted one does, scores do not depend on batching, and a missing, unfinished
or foreign folder is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from safetensors.torch import load_file

from omnisage.config import RelevanceConfig
from omnisage.data.scale import FIVE_LEVELS, HOMEDEPOT
from omnisage.errors import DataError, OmniSageError
from omnisage.relevance import teacher as teacher_module
from omnisage.relevance.teacher import load_teacher, table_digest, train_teacher

from ..tiny_bert import write_tiny_bert

QUERIES = [
    "red shoes",
    "blue lamp",
    "oak table",
    "garden hose",
    "steel drill",
    "wool rug",
    "glass vase",
    "led bulb",
]
TEXTS = [
    "title: red running shoes | brand: acme",
    "title: blue desk lamp",
    "title: solid oak dining table | color: brown",
    "title: 50 ft garden hose",
    "title: cordless steel drill | brand: volt",
    "title: wool area rug",
    "title: tall glass vase",
    "title: led light bulb 60w | queries: lamp bulb; light",
]
LEVELS = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 3.0, 5.0]
MEANS = [1.0, 1.33, 2.0, 2.67, 3.0, 1.67, 2.33, 3.0]


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test here on one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _pairs(labels: list[float]) -> pa.Table:
    return pa.table({"query_text": QUERIES, "item_text": TEXTS, "label": labels})


def _cfg(encoder: Path, **kw) -> RelevanceConfig:
    values = {
        "teacher_encoder": str(encoder),
        "teacher_batch_size": 4,
        "teacher_lr": 1e-3,
        "teacher_epochs": 150.0,
    }
    return RelevanceConfig(**{**values, **kw})


def test_levels_teacher_overfits_its_training_pairs(encoder, tmp_path) -> None:
    logs: list[str] = []
    out = train_teacher(
        _pairs(LEVELS), FIVE_LEVELS, tmp_path / "t", _cfg(encoder), progress=False, log=logs.append
    )
    teacher = load_teacher(out)
    scores = teacher.predict(QUERIES, TEXTS)
    assert scores.probs is not None and scores.probs.shape == (8, 5) and scores.probs.dtype == np.float32
    np.testing.assert_allclose(scores.probs.sum(1), 1.0, atol=1e-5)
    assert (scores.probs.argmax(1) == FIVE_LEVELS.level_index(LEVELS)).all()  # accuracy 1.0
    np.testing.assert_allclose(scores.score, FIVE_LEVELS.expected(scores.probs))  # score = expected label
    assert scores.score.dtype == np.float64 and teacher.scale == FIVE_LEVELS
    meta = json.loads((out / "teacher.json").read_text())
    assert meta["training"]["steps"] == 300 and meta["pooling"] == "mean" and len(meta["version"]) == 16
    assert not (out / "checkpoints").exists()  # the finished folder replaced the checkpoints
    assert any("300 steps" in line for line in logs)


def test_mean_teacher_overfits_and_stays_on_the_scale(encoder, tmp_path) -> None:
    out = train_teacher(
        _pairs(MEANS), HOMEDEPOT, tmp_path / "t", _cfg(encoder), progress=False, log=lambda _: None
    )
    scores = load_teacher(out).predict(QUERIES, TEXTS)
    assert scores.probs is None
    assert np.sqrt(np.mean((scores.score - MEANS) ** 2)) < 0.1
    far = load_teacher(out).predict(["zzz"] * 3, ["", "x " * 500, "title: ?"]).score
    assert ((far >= 1.0) & (far <= 3.0)).all()  # squashed into [low, high] whatever the input


def test_resumed_training_ends_where_an_uninterrupted_one_does(encoder, tmp_path, monkeypatch) -> None:
    cfg = _cfg(encoder, teacher_epochs=15.0)  # 30 steps, checkpoints at 10, 20, 30
    train = dict(progress=False, log=lambda _: None, checkpoint_every=10)
    whole = train_teacher(_pairs(LEVELS), FIVE_LEVELS, tmp_path / "whole", cfg, **train)

    real_step = teacher_module._Run.step

    def killed_at_25(run, step: int) -> int:
        if step == 25:
            raise KeyboardInterrupt  # a kill between checkpoints: steps 20..24 are lost
        return real_step(run, step)

    monkeypatch.setattr(teacher_module._Run, "step", killed_at_25)
    with pytest.raises(KeyboardInterrupt):
        train_teacher(_pairs(LEVELS), FIVE_LEVELS, tmp_path / "cut", cfg, **train)
    assert (
        sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir())[-1]
        == "step-00000020.safetensors"
    )
    with pytest.raises(OmniSageError, match="did not finish"):
        load_teacher(tmp_path / "cut")
    monkeypatch.setattr(teacher_module._Run, "step", real_step)
    cut = train_teacher(_pairs(LEVELS), FIVE_LEVELS, tmp_path / "cut", cfg, **train)

    assert json.loads((cut / "teacher.json").read_text())["training"]["resumed_from"] == 20
    for name in ("head.safetensors", "model.safetensors"):
        a, b = load_file(whole / name), load_file(cut / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_a_finished_teacher_is_reused_and_other_settings_are_refused(encoder, tmp_path) -> None:
    cfg = _cfg(encoder, teacher_epochs=1.0)
    out = train_teacher(_pairs(LEVELS), FIVE_LEVELS, tmp_path / "t", cfg, progress=False, log=lambda _: None)
    stamp = (out / "teacher.json").stat().st_mtime_ns
    logs: list[str] = []
    train_teacher(_pairs(LEVELS), FIVE_LEVELS, out, cfg, progress=False, log=logs.append)
    assert (out / "teacher.json").stat().st_mtime_ns == stamp and "reusing" in logs[0]
    with pytest.raises(OmniSageError, match=r"other pairs or settings \(lr: 0.001 -> 0.002\)"):
        train_teacher(
            _pairs(LEVELS),
            FIVE_LEVELS,
            out,
            _cfg(encoder, teacher_epochs=1.0, teacher_lr=2e-3),
            progress=False,
        )
    with pytest.raises(OmniSageError, match="pairs"):
        train_teacher(_pairs(LEVELS[::-1]), FIVE_LEVELS, out, cfg, progress=False)


def test_scores_do_not_depend_on_batching_or_order(encoder, tmp_path) -> None:
    out = train_teacher(
        _pairs(LEVELS),
        FIVE_LEVELS,
        tmp_path / "t",
        _cfg(encoder, teacher_epochs=2.0),
        progress=False,
        log=lambda _: None,
    )
    teacher = load_teacher(out)
    teacher.amp = None  # fp32: batches of other widths then differ by float rounding only
    whole = teacher.predict(QUERIES, TEXTS, batch_size=64).probs
    one_by_one = teacher.predict(QUERIES, TEXTS, batch_size=1).probs
    flipped = teacher.predict(QUERIES[::-1], TEXTS[::-1], batch_size=3).probs
    np.testing.assert_allclose(one_by_one, whole, atol=1e-5)
    np.testing.assert_allclose(flipped[::-1], whole, atol=1e-5)
    assert teacher.predict([], []).score.shape == (0,)


def test_a_bad_teacher_folder_is_one_line_naming_it(encoder, tmp_path) -> None:
    def error(path: Path) -> str:
        with pytest.raises(OmniSageError) as info:
            load_teacher(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        return message

    assert "no such folder" in error(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "not a teacher folder" in error(tmp_path / "empty")
    out = train_teacher(
        _pairs(LEVELS),
        FIVE_LEVELS,
        tmp_path / "t",
        _cfg(encoder, teacher_epochs=1.0),
        progress=False,
        log=lambda _: None,
    )
    (out / "head.safetensors").write_bytes(b"not safetensors")
    assert "cannot load" in error(out)
    (out / "teacher.json").write_text("{")
    assert "unreadable teacher.json" in error(out)


def test_bad_training_input_is_refused(encoder, tmp_path) -> None:
    cfg = _cfg(encoder, teacher_epochs=1.0)
    with pytest.raises(DataError, match=r"label 2\.5 is not on the declared scale"):
        train_teacher(_pairs([2.5] * 8), FIVE_LEVELS, tmp_path / "a", cfg, progress=False)
    with pytest.raises(DataError, match="item_text"):
        train_teacher(_pairs(LEVELS).drop_columns(["item_text"]), FIVE_LEVELS, tmp_path / "b", cfg)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.csv").write_text("x\n")
    with pytest.raises(OmniSageError, match="not a teacher folder"):
        train_teacher(_pairs(LEVELS), FIVE_LEVELS, tmp_path / "data", cfg, progress=False)
    assert (tmp_path / "data" / "keep.csv").is_file()  # never replaced by a teacher


def test_table_digest_sees_values_not_layout() -> None:
    table = pa.table({"q": ["a", "bc", "", "d"], "x": [1.0, 2.0, 3.0, 4.0]})
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 3)])
    sliced = pa.concat_tables([pa.table({"q": ["zz"], "x": [0.0]}), table]).slice(1)
    assert (
        table_digest(chunked, ["q", "x"])
        == table_digest(table, ["q", "x"])
        == table_digest(sliced, ["q", "x"])
    )
    assert table_digest(pa.table({"q": ["a", "b", "c", "d"], "x": table["x"]}), ["q", "x"]) != table_digest(
        table, ["q", "x"]
    )
    assert table_digest(pa.table({"q": ["ab", "c", "", "d"], "x": table["x"]}), ["q"]) != table_digest(
        table, ["q"]
    )
