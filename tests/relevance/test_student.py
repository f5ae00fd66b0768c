"""The student against toy teachers whose outputs are a known smooth function of the features (it must learn them
on held-out rows), the numpy serving path against the torch module, the save/load round trip, and its targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnisage.config import RelevanceConfig
from omnisage.data.scale import FIVE_LEVELS, HOMEDEPOT
from omnisage.errors import DataError, OmniSageError
from omnisage.relevance.student import StudentTargets, concat_targets, load_student, train_student

CFG = RelevanceConfig(student_hidden=64, student_epochs=40, student_lr=3e-3)
SCALES = np.array(
    [0.5, 20.0, 1.0, 3.0, 0.01, 1.0], np.float32
)  # very different feature scales: standardization


def _features(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, len(SCALES))) * SCALES + 5.0).astype(np.float32)


def _relevance(x: np.ndarray) -> np.ndarray:
    """The toy teacher's latent relevance in about [-1.5, 1.5]: nonlinear in three features, blind to the rest."""
    z = (x - 5.0) / SCALES
    return np.tanh(z[:, 0]) + 0.5 * np.tanh(z[:, 1] * z[:, 2])


def _teacher_probs(x: np.ndarray) -> np.ndarray:
    """A distribution over the five levels peaked at the level nearest the latent relevance."""
    centers = np.linspace(-1.5, 1.5, 5)
    logits = -4.0 * (_relevance(x)[:, None] - centers) ** 2  # (n, 5)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def levels_student():
    x = _features(4000, seed=0)
    p = _teacher_probs(x)
    return train_student(x, StudentTargets(FIVE_LEVELS.expected(p), p), FIVE_LEVELS, CFG, log=lambda _: None)


def test_student_matches_a_levels_teacher(levels_student):
    x = _features(2000, seed=1)  # held out
    expected = FIVE_LEVELS.expected(_teacher_probs(x))
    pred = levels_student.predict(x)
    assert np.corrcoef(pred, expected)[0, 1] >= 0.95
    assert np.sqrt(np.mean((pred - expected) ** 2)) < 0.25 * expected.std()
    probs = levels_student.probs(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(FIVE_LEVELS.expected(probs), pred)


def test_student_matches_a_mean_teacher():
    x = _features(4000, seed=2)
    score = 2.0 + 0.6 * _relevance(x)  # inside Home Depot's 1-3
    student = train_student(x, StudentTargets(score), HOMEDEPOT, CFG, log=lambda _: None)
    held_out = _features(2000, seed=3)
    pred, expected = student.predict(held_out), 2.0 + 0.6 * _relevance(held_out)
    assert np.corrcoef(pred, expected)[0, 1] >= 0.95
    assert np.sqrt(np.mean((pred - expected) ** 2)) < 0.25 * expected.std()
    assert pred.min() >= 1.0 and pred.max() <= 3.0
    with pytest.raises(OmniSageError, match="not level probabilities"):
        student.probs(held_out)


def test_zero_weight_pairs_are_ignored():
    """Half the pairs carry inverted targets at weight 0: the student still learns the true ones."""
    x = _features(4000, seed=4)
    score = 2.0 + 0.6 * _relevance(x)
    wrong = np.arange(len(x)) % 2 == 1
    score[wrong] = 4.0 - score[wrong]
    student = train_student(
        x, StudentTargets(score), HOMEDEPOT, CFG, weights=(~wrong).astype(float), log=lambda _: None
    )
    held_out = _features(2000, seed=5)
    assert np.corrcoef(student.predict(held_out), _relevance(held_out))[0, 1] >= 0.95


def test_numpy_path_equals_torch_and_save_load_round_trip(levels_student, tmp_path):
    import torch

    x = _features(100, seed=6)
    with torch.inference_mode():
        torch_logits = levels_student.torch_module()(torch.from_numpy(levels_student.standardize(x))).numpy()
    np.testing.assert_allclose(levels_student.logits(x), torch_logits, rtol=1e-4, atol=1e-5)

    folder = levels_student.save(tmp_path / "student")
    loaded = load_student(folder)
    np.testing.assert_array_equal(loaded.predict(x), levels_student.predict(x))
    assert loaded.feature_names == levels_student.feature_names == tuple(f"f{i}" for i in range(len(SCALES)))
    assert loaded.scale == FIVE_LEVELS
    manifest = json.loads((folder / "student.json").read_text())
    assert [f["name"] for f in manifest["features"]] == list(loaded.feature_names)
    levels_student.save(folder)  # a student folder is replaced in place


def test_save_and_load_refuse_what_is_not_a_student(levels_student, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(OmniSageError, match="not a relevance student: refusing"):
        levels_student.save(tmp_path / "other")
    with pytest.raises(OmniSageError, match="not a relevance student \\(no student"):
        load_student(tmp_path / "missing")
    with pytest.raises(DataError, match="reads 6 features"):
        levels_student.predict(np.zeros((3, 5), np.float32))


def test_training_is_seeded():
    x = _features(600, seed=7)
    targets = StudentTargets(2.0 + 0.6 * _relevance(x))
    cfg = RelevanceConfig(student_hidden=16, student_epochs=2)
    a, b = (train_student(x, targets, HOMEDEPOT, cfg, log=lambda _: None) for _ in range(2))
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(wa, wb)


def test_targets_one_hot_and_concat():
    gold = StudentTargets(np.array([1.0, 5.0, 3.0]))  # human levels: one-hot
    silver = StudentTargets(np.array([2.5]), np.array([[0.0, 0.5, 0.5, 0.0, 0.0]], np.float32))
    np.testing.assert_array_equal(gold.distribution(FIVE_LEVELS), np.eye(5)[[0, 4, 2]])
    both = concat_targets([gold, silver], FIVE_LEVELS)
    np.testing.assert_array_equal(both.score, [1.0, 5.0, 3.0, 2.5])
    np.testing.assert_array_equal(both.probs[3], silver.probs[0])
    assert concat_targets([gold, StudentTargets(np.array([2.0]))], HOMEDEPOT).probs is None
    with pytest.raises(DataError, match="have 5 classes, the scale 4"):
        silver.distribution(FIVE_LEVELS.__class__("levels", 1.0, 4.0, (1.0, 2.0, 3.0, 4.0)))
    with pytest.raises(DataError, match="features hold NaN"):
        train_student(np.full((2, 2), np.nan), StudentTargets(np.ones(2)), HOMEDEPOT, CFG)
