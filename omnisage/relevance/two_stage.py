"""Two-stage Recall@k under the retrieval protocol: the first stage ranks the random corpus, a re-ranker orders
its top N.

Each held-out (query, positive) pair is ranked against the same random corpus as in `omnisage.eval.metrics`. The
first stage scores the corpus and the positive; its top N (the positive among them or not) go to the re-ranker. A
positive the first stage kept is ranked by the re-ranker's scores among the N; one it did not keep stays at its
first-stage rank, which is past N, so a re-ranker can only move what the first stage found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from omnisage.eval.metrics import Scorer
from omnisage.eval.protocol import EvalSet

# (pair rows (n,), candidate entity indexes (n, N)) -> re-ranker scores (n, N)
Reranker = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _first_stage(scorer: Scorer, evalset: EvalSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, M+1) first-stage scores of the corpus then the positive, and the matching entity indexes; corpus
    entries that are the pair's positive or its excluded entity get -inf (not part of that pair's corpus)."""
    pos = evalset.positives[rows]
    corpus = np.broadcast_to(evalset.corpus, (len(rows), len(evalset.corpus)))
    scores = np.empty((len(rows), corpus.shape[1] + 1), np.float64)
    scores[:, :-1] = scorer.scores(rows, evalset.corpus)
    scores[:, -1] = np.diagonal(scorer.scores(rows, pos))
    skip = corpus == pos[:, None]
    if evalset.exclude is not None:
        skip |= corpus == evalset.exclude[rows][:, None]
    scores[:, :-1][skip] = -np.inf
    return scores, np.concatenate([corpus, pos[:, None]], axis=1)


def two_stage_ranks(
    scorer: Scorer, evalset: EvalSet, rerank: Reranker | None, n_candidates: int, *,
    rows: np.ndarray | None = None, block: int = 64,
) -> np.ndarray:  # fmt: skip
    """Rank (1 = best) of each pair's positive after the first stage and, when `rerank` is given, the re-ranking
    of its top `n_candidates`; `rows` picks a subset of the pairs (all by default)."""
    if n_candidates < 1:
        raise ValueError("n_candidates must be at least 1")
    rows = np.arange(len(evalset.positives)) if rows is None else np.asarray(rows, np.int64)
    ranks = np.empty(len(rows), np.int64)
    for lo in range(0, len(rows), block):
        part = rows[lo : lo + block]
        scores, entities = _first_stage(scorer, evalset, part)
        pos_score = scores[:, -1]
        # Ties count against the positive, as in the one-stage protocol.
        first_rank = 1 + (scores[:, :-1] >= pos_score[:, None]).sum(axis=1)
        ranks[lo : lo + len(part)] = first_rank
        if rerank is None:
            continue
        n = min(n_candidates, scores.shape[1])
        # The top n by first-stage score, ties broken toward the positive (the last column) being kept.
        order = np.argsort(-scores[:, ::-1], axis=1, kind="stable")[:, :n]
        top = scores.shape[1] - 1 - order  # (b, n) columns of `scores`
        kept = (top == scores.shape[1] - 1).any(axis=1)
        if not kept.any():
            continue
        cand = np.take_along_axis(entities, top, axis=1)[kept]  # (k, n)
        is_pos = (top == scores.shape[1] - 1)[kept]
        new = np.asarray(rerank(part[kept], cand), np.float64)  # (k, n)
        # A candidate outside the pair's corpus (only when n exceeds it) stays out of the re-ranked list too.
        new[np.take_along_axis(scores, top, axis=1)[kept] == -np.inf] = -np.inf
        pos_new = new[is_pos]  # (k,) one positive per kept row
        others = np.where(is_pos, -np.inf, new)
        ranks[lo : lo + len(part)][kept] = 1 + (others >= pos_new[:, None]).sum(axis=1)
    return ranks
