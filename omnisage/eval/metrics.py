"""Recall@k against a random corpus (paper §4.2), computed in bounded memory, with bootstrap CIs.

For each held-out (query, engaged entity) pair, rank = 1 + the number of corpus entities that score at least
as high as the positive, the positive itself excluded. Scores come from a `Scorer` in blocks of
(queries × corpus chunk), so a corpus of millions never materializes a full score matrix. Ranks are
counted at several corpus-size prefixes in one pass: the corpus is a random sample, so its first m entries
are a random corpus of size m (the recall-vs-corpus-size curve).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from omnisage.bootstrap import CONFIDENCE, bootstrap_means, percentile_interval

DEFAULT_BLOCK_ELEMENTS = 1 << 24  # floats per score block (64 MiB of float32)
CORPUS_CHUNK = 16384  # corpus entities scored per block (memory stays bounded)


class Scorer(Protocol):
    """Scores the queries of some pairs against some entities: both given as integer row indexes."""

    row_cost: int  # extra floats materialized per query row (0 for embeddings; the catalog size for BM25)

    def scores(self, queries: np.ndarray, entities: np.ndarray) -> np.ndarray:
        """(n,) pair indexes, (m,) entity indexes -> (n, m) float scores."""
        ...


class DenseScorer:
    """Dot products of query and entity embeddings (one row per pair / per entity)."""

    row_cost = 0

    def __init__(self, query_vectors: np.ndarray, entity_vectors: np.ndarray):
        if query_vectors.shape[1] != entity_vectors.shape[1]:
            raise ValueError(f"query dim {query_vectors.shape[1]} != entity dim {entity_vectors.shape[1]}")
        self.query_vectors = query_vectors  # (N, D)
        self.entity_vectors = entity_vectors  # (U, D)

    def scores(self, queries: np.ndarray, entities: np.ndarray) -> np.ndarray:
        q = self.query_vectors[queries]  # (n, D)
        e = self.entity_vectors[entities]  # (m, D)
        return q @ e.T  # (n, m)


def positive_ranks(
    scorer: Scorer,
    positives: np.ndarray,
    corpus: np.ndarray,
    *,
    sizes: Sequence[int] | None = None,
    exclude: np.ndarray | None = None,
    corpus_chunk: int = CORPUS_CHUNK,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    progress: bool = False,
) -> np.ndarray:
    """Rank of each pair's positive among the first `s` corpus entities, for each `s` in `sizes`.

    positives: (N,) entity index of pair i's positive; corpus: (M,) entity indexes, a random sample.
    Returns (N, len(sizes)) int64 ranks (1 = best); `sizes` defaults to `(M,)`. A corpus entry equal to
    the pair's positive is skipped (so that pair's corpus is one smaller); ties count against the positive.
    `exclude` (N,) names one more entity per pair to skip (-1: none), e.g. the query itself in query→query.
    """
    positives = np.asarray(positives, dtype=np.int64)
    corpus = np.asarray(corpus, dtype=np.int64)
    n_pairs, n_corpus = len(positives), len(corpus)
    exclude = np.full(n_pairs, -1, np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64)
    sizes = sorted({min(int(s), n_corpus) for s in (sizes or (n_corpus,))})
    # Chunk boundaries: every `corpus_chunk`, plus each checkpoint size, so no chunk straddles a checkpoint.
    bounds = sorted({0, n_corpus, *range(0, n_corpus, max(corpus_chunk, 1)), *sizes})
    query_block = max(1, min(n_pairs, block_elements // (max(corpus_chunk, 1) + scorer.row_cost)))
    ranks = np.ones((n_pairs, len(sizes)), dtype=np.int64)
    blocks = range(0, n_pairs, query_block)
    if progress:
        from omnisage.progress import tqdm

        blocks = tqdm(blocks, desc="ranking", unit="block", leave=False)
    for start in blocks:
        rows = np.arange(start, min(start + query_block, n_pairs))  # (n,)
        pos, skip = positives[rows], exclude[rows]  # (n,), (n,)
        # The positive's score through the scorer's own block path, so it rounds like the corpus scores.
        pos_scores = np.diagonal(scorer.scores(rows, pos)).copy()  # (n,)
        above = np.zeros(len(rows), dtype=np.int64)  # (n,) corpus items scoring >= the positive so far
        column = 0
        for lo, hi in itertools.pairwise(bounds):
            chunk = corpus[lo:hi]  # (m,)
            s = scorer.scores(rows, chunk)  # (n, m)
            beats = s >= pos_scores[:, None]  # (n, m)
            beats &= chunk[None, :] != pos[:, None]  # the positive is not part of its own corpus
            beats &= chunk[None, :] != skip[:, None]
            above += beats.sum(axis=1)
            while column < len(sizes) and sizes[column] == hi:
                ranks[rows, column] = 1 + above
                column += 1
    return ranks


def recall_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """Share of pairs whose positive ranks in the top k."""
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else float("nan")


def recall_with_ci(
    ranks: np.ndarray, k: int = 10, n_boot: int = 1000, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float, float]:
    """(recall@k, CI low, CI high) by percentile bootstrap over pairs."""
    hits = (np.asarray(ranks) <= k).astype(np.float64)
    if len(hits) == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = percentile_interval(bootstrap_means(hits, n_boot, seed), confidence)
    return float(hits.mean()), lo, hi
