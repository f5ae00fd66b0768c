"""Vectorized exact lookup for the tokenizer's id path: integer keys and words given as code point ranges.

A Python dict costs ~70 ns per word looked up, and each word must first exist as a `str`; here a whole batch
is looked up with a few numpy passes (open addressing, every query probing at once), on words that are never
materialized as strings. Lookups are exact: a word hash only finds a candidate, whose code points are compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_FIBONACCI = np.uint64(
    0x9E3779B97F4A7C15
)  # multiplicative hashing: the top bits of key * 2^64/phi pick a slot
_MULTIPLIERS = (0x100000001B3, 0x5851F42D4C957F2D, 0x2545F4914F6CDD1D)  # odd: invertible modulo 2^64


class KeyIndex:
    """Distinct uint64 keys -> their positions in the build list, -1 for other keys (linear probing)."""

    def __init__(self, keys: np.ndarray):
        keys = np.asarray(keys).astype(np.uint64)
        bits = max(int(2 * keys.size).bit_length(), 4)  # at most half the slots full: short probe runs
        self._shift, self._mask = np.uint64(64 - bits), (1 << bits) - 1
        self._keys = np.zeros(1 << bits, np.uint64)
        self._values = np.full(1 << bits, -1, np.int64)  # -1: empty slot
        slot = self._slot(keys)  # (K,)
        pending = np.arange(keys.size)
        while pending.size:  # each round, every empty slot takes the first key that asks for it
            free = pending[self._values[slot[pending]] < 0]
            _, first = np.unique(slot[free], return_index=True)
            placed = free[first]
            self._keys[slot[placed]], self._values[slot[placed]] = keys[placed], placed
            pending = np.setdiff1d(pending, placed, assume_unique=True)
            slot[pending] = (slot[pending] + 1) & self._mask

    def __len__(self) -> int:
        return int((self._values >= 0).sum())

    def get(self, keys: np.ndarray) -> np.ndarray:
        """(N,) int64 position of each key in the build list, -1 when absent."""
        keys = np.asarray(keys).astype(np.uint64)
        out = np.full(keys.size, -1, np.int64)
        slot = self._slot(keys)  # (N,)
        pending = np.arange(keys.size)
        while pending.size:  # a query stops at its key or at an empty slot
            at = slot[pending]
            values = self._values[at]
            hit = (values >= 0) & (self._keys[at] == keys[pending])
            out[pending[hit]] = values[hit]
            pending = pending[(values >= 0) & ~hit]
            slot[pending] = (slot[pending] + 1) & self._mask
        return out

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _FIBONACCI) >> self._shift).astype(np.int64)


class WordIndex:
    """Distinct strings -> their positions, looked up by code point ranges of a longer text.

    A word's key is a polynomial hash of its code points modulo 2^64, with a multiplier under which the build
    strings have distinct keys; a key found is confirmed by comparing code points, so no other word can match.
    """

    def __init__(self, words: Sequence[str]):
        self._codes = _code_points("".join(words))  # (C,)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))  # (V,)
        self._ends = np.cumsum(lengths)
        self._starts = self._ends - lengths
        for multiplier in _MULTIPLIERS:
            self._multiplier = multiplier
            keys = self._keys(self._codes, self._starts, self._ends)  # (V,)
            if np.unique(keys).size == keys.size:
                break
        else:
            raise ValueError("WordIndex: the words are not distinct")
        self._index = KeyIndex(keys)

    def get(self, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(W,) int64 position of the word codes[starts[i]:ends[i]] of each i, -1 when absent."""
        found = self._index.get(self._keys(codes, starts, ends))  # (W,) candidate
        hit = np.flatnonzero(found >= 0)  # (H,)
        lengths = ends[hit] - starts[hit]  # (H,)
        same = lengths == self._ends[found[hit]] - self._starts[found[hit]]  # (H,)
        ours = codes[concat_ranges(starts[hit], lengths * same)]  # (L,) code points of same-length candidates
        theirs = self._codes[concat_ranges(self._starts[found[hit]], lengths * same)]
        owner = np.repeat(np.arange(hit.size), lengths * same)  # (L,)
        same[owner[ours != theirs]] = False
        out = np.full(found.size, -1, np.int64)
        out[hit[same]] = found[hit[same]]
        return out

    def _keys(self, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(W,) uint64 sum of codes[s + j] * m^j over each word [s, e), by prefix sums over the whole text."""
        m = np.uint64(self._multiplier)
        inverse = np.uint64(pow(self._multiplier, -1, 1 << 64))
        n = codes.size
        with np.errstate(over="ignore"):  # wrap-around modulo 2^64 is the point
            powers = np.concatenate(
                [np.ones(min(n, 1), np.uint64), np.cumprod(np.full(max(n - 1, 0), m, np.uint64))]
            )
            prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(codes.astype(np.uint64) * powers)])
            shifts = np.cumprod(np.full(n + 1, inverse, np.uint64)) * m  # (C+1,) m^-i
            return (prefix[ends] - prefix[starts]) * shifts[starts]


def _code_points(text: str) -> np.ndarray:
    """(C,) int64 code points of `text` (lone surrogates included, as Python holds them)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for every (s, n), vectorized."""
    shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)  # (total,) own start minus its base
    return shift + np.arange(shift.size)
