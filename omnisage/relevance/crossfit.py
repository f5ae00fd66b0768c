"""Training inputs that cannot read their own label back, for data whose engagement logs were made from the labels.

Home Depot and ESCI have no logs: a judged pair with a high label *is* the engagement (the adapters derive one from
the other). So a labelled query sits in its item's engaged queries, and the teacher's item text, the item's vector
(the model's residual over engaged queries) and the student's engagement features would all carry the label into
training, while a held-out query was never engaged with anything: the student learns "engaged → relevant" and has
nothing to apply it to (measured on Home Depot before this: a student worse than predicting the mean).

The training pairs are therefore cut into `FOLDS` folds by query, and a pair's inputs come from the catalog with
every query of its fold taken out of the items' engaged queries: to its pair, the query is as new as a held-out
one. Folds, not one query at a time, so that each view is an ordinary catalog (the same feature code, one BM25
index per fold); each view keeps ~90% of the engagement.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.relevance.features import FEATURES, ItemFeatures
from omnisage.relevance.itemtext import item_texts
from omnisage.relevance.pairs import entity_keys
from omnisage.relevance.word_sets import joined
from omnisage.text.tokenizers import word_lists

FOLDS = 10


def fold_of(texts: list[str]) -> np.ndarray:
    """(n,) the fold of each query: a hash of its normalized words, so equal queries always share a fold."""
    keys = [joined(words) for words in word_lists(texts)]
    return np.array([zlib.crc32(k.encode("utf-8")) % FOLDS for k in keys], np.int64)


def hide_fold(entities: pa.Table, fold: int) -> tuple[pa.Table, np.ndarray]:
    """`entities` with every engaged query of `fold` removed (its score with it), and the rows that changed."""
    if "engaged_queries" not in entities.column_names:
        return entities, np.zeros(0, np.int64)
    queries = entities.column("engaged_queries").to_pylist()
    has_scores = "engaged_query_scores" in entities.column_names
    scores = entities.column("engaged_query_scores").to_pylist() if has_scores else [None] * len(queries)
    flat = [q for row in queries if row for q in row]
    folds = iter(fold_of(flat).tolist())
    changed, kept_queries, kept_scores = [], [], []
    for i, (row, row_scores) in enumerate(zip(queries, scores)):
        if not row:
            kept_queries.append(row)
            kept_scores.append(row_scores)
            continue
        keep = [next(folds) != fold for _ in row]
        if all(keep):
            kept_queries.append(row)
            kept_scores.append(row_scores)
            continue
        changed.append(i)
        kept_queries.append([q for q, k in zip(row, keep) if k])
        if row_scores is None:
            kept_scores.append(None)
        else:
            kept_scores.append([s for s, k in zip(row_scores, keep) if k])
    if not changed:
        return entities, np.zeros(0, np.int64)
    at = entities.column_names.index("engaged_queries")
    hidden = entities.set_column(
        at, "engaged_queries", pa.array(kept_queries, entities.schema.field(at).type)
    )
    if has_scores:
        at = hidden.column_names.index("engaged_query_scores")
        hidden = hidden.set_column(
            at, "engaged_query_scores", pa.array(kept_scores, hidden.schema.field(at).type)
        )
    return hidden, np.array(changed, np.int64)


class CrossFit:
    """Per fold, the catalog without that fold's engaged queries: item text, item vectors and student features.

    Each fold's view is made once (its table and the re-encoded changed rows), so gold and silver pairs, the student and
    the calibrated baselines all see the same view."""

    def __init__(self, model: Any, entities: pa.Table, vectors: np.ndarray):
        self.model = model
        self.entities = entities
        self.vectors = vectors
        self.keys = {k: i for i, k in enumerate(entity_keys(entities).to_pylist())}
        self._folds: dict[int, tuple[pa.Table, np.ndarray, np.ndarray]] = {}

    def _fold(self, fold: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """The catalog without `fold`'s engaged queries, its changed rows and their re-encoded vectors (once)."""
        if fold not in self._folds:
            hidden, changed = hide_fold(self.entities, fold)
            encoded = (
                np.asarray(self.model.encode_entities(hidden.take(changed)), np.float32)
                if len(changed)
                else np.zeros((0, self.vectors.shape[1]), np.float32)
            )
            self._folds[fold] = (hidden, changed, encoded)
        return self._folds[fold]

    def _by_fold(self, pairs: pa.Table) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(fold, pair indices, their catalog rows) for each fold that has pairs."""
        folds = fold_of(pairs.column("query_text").to_pylist())
        rows = np.array([self.keys[k] for k in entity_keys(pairs).to_pylist()], np.int64)
        for fold in np.unique(folds).tolist():
            at = np.flatnonzero(folds == fold)
            yield fold, at, rows[at]

    def texts(self, pairs: pa.Table) -> list[str]:
        """The teacher's item text of each pair, from its fold's view."""
        out: list[str] = [""] * pairs.num_rows
        for fold, at, rows in self._by_fold(pairs):
            hidden, _, _ = self._fold(fold)
            for i, text in zip(at.tolist(), item_texts(hidden.take(rows))):
                out[i] = text
        return out

    def features(self, pairs: pa.Table, query_vectors: np.ndarray, legacy: np.ndarray | None) -> np.ndarray:
        """(n, F) student features of the pairs, each from its fold's view; `query_vectors` (n, D) and `legacy`
        (n, L) are the pairs' query vectors (they do not depend on the items)."""
        texts = pairs.column("query_text").to_pylist()
        out = None
        for fold, at, rows in self._by_fold(pairs):
            hidden, changed, encoded = self._fold(fold)
            vectors = self.vectors.copy()
            vectors[changed] = encoded
            features = ItemFeatures.build(hidden, vectors)
            x = features.batch_features(
                [texts[i] for i in at], query_vectors[at], rows, None if legacy is None else legacy[at]
            )
            if out is None:
                out = np.empty((pairs.num_rows, x.shape[1]), np.float32)
            out[at] = x
        if out is None:
            return np.empty((0, len(FEATURES)), np.float32)
        return out
