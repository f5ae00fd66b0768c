"""Vectorized lookups against a Python dict: integer keys (probe runs, absent keys), words by code point ranges
(found inside a longer text, hash candidates confirmed by comparing code points)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from omnisage.text.lookup import KeyIndex, WordIndex


def test_key_index_equals_dict():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 1 << 62, 5000))
    keys = np.concatenate([keys, np.arange(300)])  # consecutive keys: long probe runs
    keys = np.unique(keys)
    rng.shuffle(keys)
    index = KeyIndex(keys)
    queries = np.concatenate([keys, rng.integers(0, 1 << 62, 5000), np.arange(1000)])
    expected = {int(k): i for i, k in enumerate(keys)}
    assert index.get(queries).tolist() == [expected.get(int(q), -1) for q in queries]
    assert len(index) == keys.size
    assert KeyIndex(np.zeros(0, np.int64)).get(np.array([1, 2])).tolist() == [-1, -1]


def _code_ranges(text: str, words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = np.array([ord(c) for c in text], dtype=np.int64)
    starts, at = [], 0
    for word in words:
        at = text.index(word, at)
        starts.append(at)
        at += len(word)
    starts_ = np.array(starts, dtype=np.int64)
    return codes, starts_, starts_ + np.array([len(w) for w in words], dtype=np.int64)


@pytest.mark.parametrize("seed", range(3))
def test_word_index_equals_dict(seed):
    rng = random.Random(seed)
    alphabet = "abcé北🍕\ud800"  # a lone surrogate too: Python strings may hold one
    vocab = sorted({"".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(400)})
    queries = [*vocab, *("".join(rng.choices(alphabet, k=rng.randint(1, 7))) for _ in range(400))]
    codes, starts, ends = _code_ranges(" ".join(queries), queries)
    expected = {w: i for i, w in enumerate(vocab)}
    assert WordIndex(vocab).get(codes, starts, ends).tolist() == [expected.get(q, -1) for q in queries]


def test_a_hash_match_is_confirmed_by_code_points(monkeypatch):
    # With every word's key its length, "xy" finds "bc" as the candidate: only the code point check rejects it.
    monkeypatch.setattr(
        WordIndex, "_keys", lambda self, codes, starts, ends: (ends - starts).astype(np.uint64)
    )
    index = WordIndex(["a", "bc", "def"])
    codes, starts, ends = _code_ranges("xy bc def dex", ["xy", "bc", "def", "dex"])
    assert index.get(codes, starts, ends).tolist() == [-1, 1, 2, -1]
    with pytest.raises(ValueError, match="not distinct"):
        WordIndex(["ab", "cd"])  # equal keys under every multiplier
