"""Percentile bootstrap intervals, shared by the retrieval metrics (`eval/metrics.py`) and the relevance metrics
(`relevance/metrics.py`): resample the rows (pairs, or queries) with replacement, take the mean, read percentiles.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95  # the two-sided coverage of every bootstrap interval


def bootstrap_means(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement) of the rows of `values`.

    values: (N,) or (N, S); the S columns share each resample, so differences between systems scored on
    the same pairs get a paired bootstrap. Returns (n_boot,) or (n_boot, S).
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, *values.shape[1:]))
    step = max(1, (1 << 22) // max(n, 1))  # bound the (step, N) index matrix
    for lo in range(0, n_boot, step):
        idx = rng.integers(0, n, size=(min(step, n_boot - lo), n))  # (b, N)
        out[lo : lo + len(idx)] = values[idx].mean(axis=1)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap samples."""
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)
