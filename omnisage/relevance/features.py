"""The student's cheap query–item features (companion paper: embeddings, BM25, term match, engagement rates).

One code path offline (training and evaluating the student) and online (re-ranking one query's first-stage
candidates): `ItemFeatures` is built once per catalog from the enriched table and our item vectors, a query
becomes a `QuerySide`, and `pair_features` gives one float32 row per candidate. Every feature and its cost:
docs/relevance.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.errors import DataError, MissingExtraError
from omnisage.model.compatibility import prefix_numpy
from omnisage.model.features import vector_column
from omnisage.relevance.word_sets import EngagedIndex, WordSets, joined, list_texts
from omnisage.text.tokenizers import word_lists

# The item's own text (BM25 and term match), and the words people put on it (engaged queries, board titles).
TEXT_FIELDS = ("title", "brand", "color", "description", "caption", "link")
ENGAGED_FIELDS = ("engaged_queries", "board_titles")

# The features, in column order (docs/relevance.md says what each costs). The elementwise product q * e, raw or
# projected to 32 dims, was measured and left out: on Home Depot it made the student worse (docs/relevance.md).
FEATURES = (
    "cosine",  # q · e: our first stage's score
    "legacy_cosine",  # the compatibility tower's query prefix · the item's legacy vector; 0 when missing
    "legacy_missing",  # 1 when the item (or the query side) has no legacy vector
    "bm25_text",  # BM25 of the query's words against the item's own text
    "bm25_engaged",  # BM25 against its engaged queries and board titles
    "title_match",  # share of the query's distinct words found in the title
    "text_match",  # ... in the item's own text
    "engaged_match",  # ... in its engaged queries and board titles
    "title_phrase",  # 1 when the query's words occur in the title in order and side by side
    "query_words",  # log1p(distinct words of the query): lets the network read the shares by query length
    "pair_engagement",  # log1p(this query's engagement weight on the item); 0 when not one of its engaged queries
    "engagement",  # log1p(the item's summed engaged-query weights)
    "engaged_count",  # log1p(number of its engaged queries)
    "is_product",  # 1 for a product, 0 for a pin
)


def _bm25(word_lists_: list[list[str]]) -> Any:
    """A bm25s index of the items' words; None when no item has a word (bm25s cannot index that)."""
    if not any(word_lists_):
        return None
    try:
        import bm25s
    except ImportError:
        raise MissingExtraError("bm25s", "eval") from None
    index = bm25s.BM25()  # bm25s defaults, as the BM25 baseline: k1=1.5, b=0.75, Lucene IDF
    index.index(word_lists_, show_progress=False)
    return index


def _word_ids(index: Any, words: list[str]) -> list[int]:
    return [] if index is None else index.get_tokens_ids(words)


def _bm25_scores(index: Any, ids: list[int], rows: np.ndarray) -> np.ndarray:
    """BM25 of a query (word ids in the index's vocabulary) for `rows`: bm25s scores the whole catalog from
    its precomputed sparse matrix (cost ∝ the query words' postings), then the rows are picked."""
    if index is None or not ids:
        return np.zeros(len(rows), np.float32)
    return index.get_scores_from_ids(ids)[rows]


@dataclass(frozen=True)
class QuerySide:
    """One query, ready to be paired with any number of items (`ItemFeatures.query_side` makes it)."""

    text: str
    vector: np.ndarray  # (D,) our query embedding, unit
    legacy_vector: np.ndarray | None  # (L,) its compatibility prefix, unit; None when the model has none
    words: list[str]  # normalized words, in order, repeats kept (BM25 counts them)
    word_ids: (
        np.ndarray
    )  # (w,) int32 ids of its distinct words in the catalog's vocabulary (unknown: left out)
    n_distinct: int  # distinct words, known or not: the denominator of the match shares
    text_ids: list[int]  # its words in the text BM25's vocabulary
    engaged_ids: list[int]  # ... in the engaged BM25's vocabulary


@dataclass
class ItemFeatures:
    """The catalog side of the features, built once per catalog; (N,) arrays are in the enriched table's order."""

    row_index: dict[tuple[str, str], int]  # (entity_type, entity_id) -> row
    vectors: Any  # (N, D) float32 our item embeddings, unit; or a view whose [rows] gathers them (serving)
    legacy: np.ndarray  # (N, L) float32 unit legacy vectors, zero rows where missing (L = 0: none at all)
    legacy_present: np.ndarray  # (N,) bool
    engagement: np.ndarray  # (N,) float32 log1p(summed engaged-query weights)
    engaged_count: np.ndarray  # (N,) float32 log1p(number of engaged queries)
    is_product: np.ndarray  # (N,) float32
    vocabulary: dict[str, int]  # every word of the catalog's text -> id (the word sets' ids)
    title_words: WordSets
    text_words: WordSets
    engaged_words: WordSets
    titles: list[str]  # " w1 w2 ... " per item: normalized title words, space-padded for phrase lookup
    engaged: EngagedIndex
    bm25_text: Any  # bm25s.BM25 over the item's own text (None: no item has any)
    bm25_engaged: Any  # bm25s.BM25 over its engaged queries and board titles (None: no item has any)

    @classmethod
    def build(cls, entities: pa.Table, vectors: Any) -> ItemFeatures:
        """From the enriched entity table (ENRICHED_ENTITIES; absent columns count as empty) and our (N, D)
        item vectors in the same order: an array, or (serving) any object with `shape`, `ndim` and `[rows]`
        giving (n, D) float32, so the vectors the indexes hold are not copied."""
        n = entities.num_rows
        if isinstance(vectors, np.ndarray):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if n == 0 or vectors.shape[0] != n or vectors.ndim != 2:
            raise DataError(
                f"item features need N >= 1 rows and (N, D) vectors, got {n} rows, {vectors.shape}"
            )
        legacy, present = _legacy(entities)
        scores = _column(entities, "engaged_query_scores", n)
        totals = np.array([sum(s for s in row if s is not None) if row else 0.0 for row in scores])
        counts = np.array([len(row) if row else 0 for row in _column(entities, "engaged_queries", n)])

        title_lists = word_lists(_column(entities, "title", n))
        rest = [_column(entities, c, n) for c in TEXT_FIELDS[1:]]
        rest_lists = word_lists([" ".join(t for t in texts if t) for texts in zip(*rest)])
        text_lists = [a + b for a, b in zip(title_lists, rest_lists)]
        engaged_lists = word_lists(list_texts([_column(entities, c, n) for c in ENGAGED_FIELDS]))
        types = _column(entities, "entity_type", n)
        vocabulary: dict[str, int] = {}
        return cls(
            row_index={key: i for i, key in enumerate(zip(types, _column(entities, "entity_id", n)))},
            vectors=vectors,
            legacy=legacy,
            legacy_present=present,
            engagement=np.log1p(np.maximum(totals, 0.0)).astype(np.float32),
            engaged_count=np.log1p(counts).astype(np.float32),
            is_product=np.array([t == "product" for t in types], np.float32),
            vocabulary=vocabulary,
            title_words=WordSets.build(title_lists, vocabulary),
            text_words=WordSets.build(text_lists, vocabulary),
            engaged_words=WordSets.build(engaged_lists, vocabulary),
            titles=[f" {joined(words)} " for words in title_lists],
            engaged=EngagedIndex.build(_column(entities, "engaged_queries", n), scores),
            bm25_text=_bm25(text_lists),
            bm25_engaged=_bm25(engaged_lists),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The feature names, in column order (`FEATURES`)."""
        return FEATURES

    def rows(self, entity_types: Sequence[str], entity_ids: Sequence[str]) -> np.ndarray:
        """(n,) int64 catalog rows of (entity_type, entity_id) pairs; a DataError names the first unknown one."""
        out = np.empty(len(entity_ids), np.int64)
        for i, key in enumerate(zip(entity_types, entity_ids)):
            row = self.row_index.get(key)
            if row is None:
                raise DataError(f"{key[0]} {key[1]!r} is not in the item catalog", row=i + 1)
            out[i] = row
        return out

    def query_side(self, text: str, vector: np.ndarray, legacy_vector: np.ndarray | None = None) -> QuerySide:
        """A query with our (D,) vector and, when the model has the compatibility tower, its (L,) prefix."""
        if legacy_vector is not None and self.legacy.shape[1] == 0:
            legacy_vector = None  # no item has a legacy vector: nothing to compare it with
        if legacy_vector is not None and len(legacy_vector) != self.legacy.shape[1]:
            raise DataError(
                f"query legacy vector has {len(legacy_vector)} dims, the items' {self.legacy.shape[1]}"
            )
        words = word_lists([text])[0]
        distinct = list(dict.fromkeys(words))
        known = [self.vocabulary[w] for w in distinct if w in self.vocabulary]
        return QuerySide(
            text=text,
            vector=np.asarray(vector, dtype=np.float32),
            legacy_vector=None if legacy_vector is None else np.asarray(legacy_vector, dtype=np.float32),
            words=words,
            word_ids=np.array(sorted(known), dtype=np.int32),
            n_distinct=len(distinct),
            text_ids=_word_ids(self.bm25_text, words),
            engaged_ids=_word_ids(self.bm25_engaged, words),
        )

    def pair_features(self, query: QuerySide, rows: np.ndarray) -> np.ndarray:
        """(n,) catalog rows -> (n, F) float32 features of (query, item) pairs, columns as `FEATURES`."""
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        out = np.empty((n, len(FEATURES)), np.float32)  # (n, F)
        # Row-wise sums, not a matrix-vector product: a row's value does not depend on how many rows are scored.
        out[:, 0] = (self.vectors[rows] * query.vector).sum(axis=1)
        has_legacy = self.legacy_present[rows] & (query.legacy_vector is not None)
        out[:, 1] = (self.legacy[rows] * query.legacy_vector).sum(axis=1) if has_legacy.any() else 0.0
        out[:, 1] *= has_legacy
        out[:, 2] = ~has_legacy
        out[:, 3] = _bm25_scores(self.bm25_text, query.text_ids, rows)
        out[:, 4] = _bm25_scores(self.bm25_engaged, query.engaged_ids, rows)
        share = 1.0 / max(query.n_distinct, 1)
        in_title = self.title_words.matches(rows, query.word_ids)  # (n,)
        out[:, 5] = in_title * share
        out[:, 6] = self.text_words.matches(rows, query.word_ids) * share
        out[:, 7] = self.engaged_words.matches(rows, query.word_ids) * share
        out[:, 8] = 0.0
        if query.words:  # a phrase match needs every word in the title: test only those titles
            phrase = f" {joined(query.words)} "
            whole = np.flatnonzero(in_title == query.n_distinct)
            out[whole, 8] = [phrase in self.titles[r] for r in rows[whole].tolist()]
        out[:, 9] = np.log1p(query.n_distinct)
        out[:, 10] = np.log1p(self.engaged.weights_for(joined(query.words), rows))
        out[:, 11] = self.engagement[rows]
        out[:, 12] = self.engaged_count[rows]
        out[:, 13] = self.is_product[rows]
        return out

    def batch_features(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        rows: np.ndarray,
        legacy_query_vectors: np.ndarray | None = None,
    ) -> np.ndarray:
        """Offline: (n,) pairs (query text, (n, D) its vector, catalog row) -> (n, F); each distinct query is
        made a `QuerySide` once and goes through `pair_features`, the serving path."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), len(FEATURES)), np.float32)
        texts, first, inverse = np.unique(
            np.asarray(queries, dtype=object), return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(texts) + 1))
        for q, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            i = first[q]
            legacy = None if legacy_query_vectors is None else legacy_query_vectors[i]
            side = self.query_side(texts[q], query_vectors[i], legacy)
            pairs = order[lo:hi]
            out[pairs] = self.pair_features(side, rows[pairs])
        return out


def query_vectors(model: Any, texts: Sequence[str], legacy_dim: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, D) our query vectors and (n, L) their compatibility prefixes, as `compatibility_system` scores them
    (None when L is 0 or wider than D). Only meaningful for a model trained with the legacy task."""
    vectors = np.asarray(model.encode_queries(list(texts)), dtype=np.float32)
    if not 0 < legacy_dim <= vectors.shape[1]:
        return vectors, None
    return vectors, prefix_numpy(vectors, legacy_dim)


def _column(table: pa.Table, name: str, n: int) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * n


def _legacy(entities: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) unit legacy vectors (zero rows where missing) and (N,) presence; L = 0 when no item has one."""
    n = entities.num_rows
    if "legacy_vector" not in entities.column_names:
        return np.zeros((n, 0), np.float32), np.zeros(n, bool)
    column = entities.column("legacy_vector")
    present = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    if not len(present):
        return np.zeros((n, 0), np.float32), np.zeros(n, bool)
    dim = len(column[int(present[0])].as_py())
    vectors, mask = vector_column(entities, "legacy_vector", dim)  # validated: one width, finite
    return prefix_numpy(vectors, dim), mask
