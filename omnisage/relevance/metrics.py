"""Relevance metrics of the teacher and the student against human labels, with query-bootstrap intervals.

RMSE (Kaggle's Home Depot metric), grade accuracy (the companion paper's 5-level accuracy; Home Depot's three
grades), and nDCG@k of each query's judged items ranked by the prediction. Intervals resample queries, not pairs
(a query's pairs share its difficulty), through `omnisage.bootstrap`, as the retrieval metrics: systems scored on the
same labels share every resample, so their differences get a paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from omnisage.bootstrap import CONFIDENCE, bootstrap_means, percentile_interval
from omnisage.data.scale import RelevanceScale


def rmse(pred: np.ndarray, labels: np.ndarray) -> float:
    diff = np.asarray(pred, np.float64) - np.asarray(labels, np.float64)
    return float(np.sqrt(np.mean(diff * diff))) if len(diff) else float("nan")


def accuracy(pred: np.ndarray, labels: np.ndarray, scale: RelevanceScale) -> float:
    """Share of pairs whose predicted grade is the label's (`scale.grade`: nearest level, or bin)."""
    return float(np.mean(scale.grade(pred) == scale.grade(labels))) if len(labels) else float("nan")


def ndcg_per_query(
    pred: np.ndarray, labels: np.ndarray, groups: np.ndarray, scale: RelevanceScale, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(Q,) nDCG@k of each query over its judged items, and (Q,) whether the query counts.

    Gain = label - scale.low (linear: a mean of raters has no levels to exponentiate), discount 1 / log2(1 + rank).
    Ties in `pred` are broken against the prediction (lower labels first), so a constant scores the worst order.
    A query counts when its judged labels are not all equal: with one item, or all alike, every order is ideal.
    Queries are in the order of `np.unique(groups)`.
    """
    pred, labels = np.asarray(pred, np.float64), np.asarray(labels, np.float64)
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    group = group.reshape(-1)
    n_queries = int(group.max(initial=-1)) + 1
    gain = labels - scale.low

    def dcg(order: np.ndarray) -> np.ndarray:  # order: pairs sorted by query, then by rank within it
        starts = np.searchsorted(group[order], np.arange(n_queries))  # (Q,)
        rank = np.arange(len(order)) - starts[group[order]]  # (n,) 0-based rank within its query
        discount = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
        return np.bincount(group[order], weights=gain[order] * discount, minlength=n_queries)

    actual = dcg(np.lexsort((labels, -pred, group)))  # by query, prediction descending, labels ascending
    ideal = dcg(np.lexsort((-labels, group)))
    lowest = np.full(n_queries, np.inf)
    np.minimum.at(lowest, group, labels)
    counted = np.bincount(group, weights=labels > lowest[group], minlength=n_queries) > 0
    return np.where(counted, actual / np.where(counted, ideal, 1.0), 0.0), counted


def ndcg_at(
    pred: np.ndarray, labels: np.ndarray, groups: np.ndarray, scale: RelevanceScale, k: int = 10
) -> float:
    """Mean nDCG@k over the queries that count (see `ndcg_per_query`)."""
    values, counted = ndcg_per_query(pred, labels, groups, scale, k)
    return float(values[counted].mean()) if counted.any() else float("nan")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


def _per_query_sums(
    preds: list[np.ndarray], labels: np.ndarray, groups: np.ndarray, scale: RelevanceScale, k: int
) -> np.ndarray:
    """(Q, 2 + 3S) per query: pairs, counted (nDCG), then per system its squared errors, right grades, nDCG."""
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    group = group.reshape(-1)
    n_queries = int(group.max(initial=-1)) + 1
    grades = scale.grade(labels)
    columns = [np.bincount(group, minlength=n_queries).astype(np.float64)]
    errors, right, ndcgs = [], [], []
    for pred in preds:
        diff = np.asarray(pred, np.float64) - labels
        errors.append(np.bincount(group, weights=diff * diff, minlength=n_queries))
        right.append(np.bincount(group, weights=scale.grade(pred) == grades, minlength=n_queries))
        values, counted = ndcg_per_query(pred, labels, groups, scale, k)
        ndcgs.append(values)
    columns.append(counted.astype(np.float64))
    return np.stack(columns + errors + right + ndcgs, axis=1)


def _metrics(means: np.ndarray, n_systems: int) -> np.ndarray:
    """(..., 2 + 3S) means of per-query sums -> (..., 3, S): RMSE, accuracy, nDCG of each system."""
    pairs, counted = means[..., :1], means[..., 1:2]
    s = n_systems
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack(
            [np.sqrt(means[..., 2 : 2 + s] / pairs), means[..., 2 + s : 2 + 2 * s] / pairs,
             means[..., 2 + 2 * s :] / counted],
            axis=-2,
        )  # fmt: skip


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the draws where the metric is defined (a resample can hold no counted query)."""
    defined = draws[np.isfinite(draws)]
    return percentile_interval(defined, confidence) if len(defined) else (float("nan"), float("nan"))


def relevance_report(
    preds: Mapping[str, np.ndarray],
    labels: np.ndarray,
    groups: np.ndarray,
    scale: RelevanceScale,
    *,
    k: int = 10,
    n_boot: int = 1000,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, dict[str, Interval]]:
    """RMSE, accuracy and nDCG@k of each system with a percentile interval over resampled queries, and of each
    system minus the first ("student - teacher"), paired: every resample draws the same queries for all."""
    names = list(preds)
    labels = np.asarray(labels, np.float64)
    sums = _per_query_sums([preds[name] for name in names], labels, groups, scale, k)  # (Q, 2 + 3S)
    point = _metrics(sums.mean(axis=0), len(names))  # (3, S)
    samples = _metrics(bootstrap_means(sums, n_boot, seed), len(names))  # (B, 3, S)
    metric_names = ("rmse", "accuracy", f"ndcg@{k}")
    out: dict[str, dict[str, Interval]] = {}

    def report(values: np.ndarray, draws: np.ndarray) -> dict[str, Interval]:  # (3,), (B, 3)
        return {
            metric: Interval(float(values[m]), *_interval(draws[:, m], confidence))
            for m, metric in enumerate(metric_names)
        }

    for s, name in enumerate(names):
        out[name] = report(point[:, s], samples[:, :, s])
    for s, name in enumerate(names[1:], start=1):
        out[f"{name} - {names[0]}"] = report(point[:, s] - point[:, 0], samples[:, :, s] - samples[:, :, 0])
    return out
