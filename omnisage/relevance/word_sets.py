"""The catalog's words, kept for the student's term-match and engagement features (see `features.py`).

`WordSets` holds the items of each word in one CSR array (4 bytes an (item, word) pair, not a Python set per
item), so counting a query's words in its candidates is a few binary searches. `EngagedIndex` maps a normalized query to
the items it was engaged with and the weights, in the same CSR form.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnisage.text.tokenizers import word_lists


def joined(words: Sequence[str]) -> str:
    """The key of a word sequence: a query and an engaged query match when their normalized words are equal."""
    return " ".join(words)


def list_texts(columns: Sequence[Sequence[Any]]) -> list[str]:
    """Per row, every entry of some list columns (None = empty) in one text."""
    return [" ".join(e for entries in row if entries for e in entries if e) for row in zip(*columns)]


@dataclass(frozen=True)
class WordSets:
    """Which items hold which words, kept inverted: word w is in the items rows[indptr[w]:indptr[w + 1]],
    ascending. A query has a few words, so counting them in N candidates costs a few binary searches per word,
    whatever the length of the items' text."""

    indptr: np.ndarray  # (V + 1,) int64 over the vocabulary as it was when the sets were built
    rows: np.ndarray  # (nnz,) int32

    @classmethod
    def build(cls, lists: Sequence[Sequence[str]], vocabulary: dict[str, int]) -> WordSets:
        """Each row's words; words new to `vocabulary` are added to it (several word sets share one)."""
        per_row = [{vocabulary.setdefault(w, len(vocabulary)) for w in words} for words in lists]
        lengths = np.fromiter(map(len, per_row), np.int64, count=len(per_row))
        ids = np.fromiter(itertools.chain.from_iterable(per_row), np.int64, count=int(lengths.sum()))
        owners = np.repeat(np.arange(len(per_row), dtype=np.int32), lengths)  # (nnz,) ascending
        order = np.argsort(ids, kind="stable")  # by word, rows still ascending within a word
        indptr = np.searchsorted(ids[order], np.arange(len(vocabulary) + 1))
        return cls(indptr.astype(np.int64), owners[order])

    def matches(self, rows: np.ndarray, word_ids: np.ndarray) -> np.ndarray:
        """(n,) float32: how many of the distinct `word_ids` each of `rows` holds."""
        counts = np.zeros(len(rows), np.float32)
        rows = np.asarray(rows, dtype=self.rows.dtype)  # one dtype: searchsorted would cast the postings
        for w in word_ids.tolist():
            if w + 1 >= len(self.indptr) or len(rows) == 0:
                continue  # a word first seen in another word set: none of these items holds it
            items = self.rows[self.indptr[w] : self.indptr[w + 1]]  # (p,) ascending
            if len(items):
                at = np.minimum(np.searchsorted(items, rows), len(items) - 1)  # (n,)
                counts += items[at] == rows
        return counts


@dataclass(frozen=True)
class EngagedIndex:
    """Normalized engaged query -> the items engaged with it and the summed weights (from the enriched table)."""

    keys: dict[str, int]  # query key (`joined` words) -> k
    indptr: np.ndarray  # (K + 1,) int64: query k's items are rows[indptr[k]:indptr[k + 1]], ascending
    rows: np.ndarray  # (nnz,) int64
    weights: np.ndarray  # (nnz,) float32

    @classmethod
    def build(
        cls, queries: Sequence[Sequence[str] | None], weights: Sequence[Sequence[float] | None]
    ) -> EngagedIndex:
        """From the enriched table's `engaged_queries` and `engaged_query_scores` columns (rows aligned);
        queries that normalize alike on one item add up; a missing weight counts 0."""
        n = len(queries)
        texts, owners, values = [], [], []
        for row, (entries, scores) in enumerate(zip(queries, weights)):
            scores = list(scores or ())
            for j, query in enumerate(entries or ()):
                texts.append(query)
                owners.append(row)
                values.append(scores[j] if j < len(scores) and scores[j] is not None else 0.0)
        keys: dict[str, int] = {}
        key_ids = [keys.setdefault(joined(words), len(keys)) for words in word_lists(texts)]
        codes = np.asarray(key_ids, np.int64) * max(n, 1) + np.asarray(owners, np.int64)  # (m,) key-major
        unique, inverse = np.unique(codes, return_inverse=True)
        summed = np.bincount(inverse, weights=np.asarray(values, np.float64), minlength=len(unique))
        indptr = np.searchsorted(unique // max(n, 1), np.arange(len(keys) + 1))
        keys.pop("", None)  # an engaged query with no word matches no query
        return cls(keys, indptr.astype(np.int64), unique % max(n, 1), summed.astype(np.float32))

    def weights_for(self, key: str, rows: np.ndarray) -> np.ndarray:
        """(n,) float32: the weight of query `key` on each of `rows` (0 where not engaged)."""
        k = self.keys.get(key)
        if k is None or len(rows) == 0:
            return np.zeros(len(rows), np.float32)
        items = self.rows[self.indptr[k] : self.indptr[k + 1]]  # (c,) ascending
        at = np.minimum(np.searchsorted(items, rows), len(items) - 1)  # (n,)
        found = items[at] == rows
        return np.where(found, self.weights[self.indptr[k] + at], 0.0).astype(np.float32)
