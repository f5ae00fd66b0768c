"""Stable, seeded hash functions of token ids for the hash embeddings.

SplitMix64's output function over `id + (seed + 1) * golden`: pure uint64 arithmetic in numpy, so the same id
and seed give the same bucket in every process, on every machine (Python's salted `hash()` would not). The
seeds are part of the model: a bundle stores them, or a reload would scatter tokens into other rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def stable_hash(values: np.ndarray | Sequence[int], seed: int) -> np.ndarray:
    """64-bit hashes (uint64, same shape) of non-negative integers under one seed."""
    x = np.asarray(values, dtype=np.int64)
    if x.size and x.min() < 0:
        raise ValueError("stable_hash takes non-negative integers")
    offset = np.uint64(((seed + 1) * _GOLDEN) & _MASK)
    with np.errstate(over="ignore"):  # wrap-around mod 2^64 is the point
        z = x.astype(np.uint64) + offset
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        return z ^ (z >> np.uint64(31))


def stable_hash_reference(value: int, seed: int) -> int:
    """The same function on one Python int (the oracle the vectorized version is tested against)."""
    z = (value + (seed + 1) * _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return z ^ (z >> 31)


def hash_buckets(token_ids: np.ndarray | Sequence[int], seeds: Sequence[int], num_buckets: int) -> np.ndarray:
    """Bucket of every token under every hash function: (N, K) int64 in [0, num_buckets), K = len(seeds)."""
    ids = np.asarray(token_ids, dtype=np.int64)
    columns = [(stable_hash(ids, seed) % np.uint64(num_buckets)).astype(np.int64) for seed in seeds]
    return np.stack(columns, axis=-1) if columns else np.zeros((ids.size, 0), np.int64)
