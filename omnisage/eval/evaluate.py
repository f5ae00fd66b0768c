"""Run retrieval systems through the Recall@k protocol and summarize per task, action and language.

Every system ranks the same sampled pairs against the same random corpora. The per-pair ranks are kept in
one table (one rank column per system), from which every summary, confidence interval and ablation table
is computed; recall-vs-corpus-size curves come from the same pass (rank columns at corpus prefixes).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from omnisage.config import EvalConfig
from omnisage.eval.metrics import bootstrap_means, percentile_interval, positive_ranks
from omnisage.eval.protocol import EvalSet, Windows
from omnisage.eval.systems import System

RANK_PREFIX = "rank:"  # rank columns of the rank table are named rank:<system>


def curve_sizes(cfg: EvalConfig, n_corpus: int) -> list[int]:
    """Corpus prefix sizes at which ranks are counted; the last is the whole corpus."""
    return sorted({min(s, n_corpus) for s in cfg.curve_sizes if s > 0} | {n_corpus})


@dataclass
class Evaluation:
    """Ranks of every system on every task's evaluation set."""

    windows: Windows
    sets: dict[str, EvalSet]
    ranks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # system -> task -> (N, S)
    seconds: dict[str, float] = field(default_factory=dict)  # system -> wall time

    def sizes(self, task: str, cfg: EvalConfig) -> list[int]:
        return curve_sizes(cfg, len(self.sets[task].corpus))

    @property
    def systems(self) -> list[str]:
        return list(self.ranks)


def evaluate_systems(
    systems: Iterable[System], sets: dict[str, EvalSet], windows: Windows, cfg: EvalConfig
) -> Evaluation:
    """Rank every set's positives with every system that supports its task."""
    ev = Evaluation(windows, sets)
    for system in systems:
        start = time.perf_counter()
        ev.ranks[system.name] = {}
        for task, evalset in sets.items():
            supports = getattr(system, "supports", None)
            if supports is not None and not supports(task):
                continue
            scorer = system.scorer(evalset)
            ev.ranks[system.name][task] = positive_ranks(
                scorer,
                evalset.positives,
                evalset.corpus,
                sizes=ev.sizes(task, cfg),
                exclude=evalset.exclude,
                progress=True,
            )
        ev.seconds[system.name] = time.perf_counter() - start
    return ev


def rank_table(ev: Evaluation) -> pa.Table:
    """One row per evaluated pair: task, query, entity, action, lang, has_text and rank:<system> (full
    corpus; null where a system does not do that task)."""
    parts = []
    for task, evalset in ev.sets.items():
        n = evalset.pairs.num_rows
        cols = {"task": pa.array([task] * n, pa.string())}
        cols.update({name: evalset.pairs.column(name) for name in evalset.pairs.column_names})
        for system, by_task in ev.ranks.items():
            ranks = by_task.get(task)
            cols[RANK_PREFIX + system] = pa.array(
                ranks[:, -1] if ranks is not None else np.zeros(n, np.int64),
                pa.int64(),
                mask=None if ranks is not None else np.ones(n, bool),
            )
        parts.append(pa.table(cols))
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


def rank_systems(table: pa.Table) -> list[str]:
    return [c[len(RANK_PREFIX) :] for c in table.column_names if c.startswith(RANK_PREFIX)]


def _slices(table: pa.Table, task: str, no_text: bool) -> list[tuple[str, str, np.ndarray]]:
    """(slice kind, value, row mask) for one task: all pairs, each action, each language, new vs repeat
    pairs (ranks stored before that column existed have no such slice)."""
    tasks = np.asarray(table.column("task").to_numpy(zero_copy_only=False))
    base = tasks == task
    if no_text:
        base &= ~np.asarray(table.column("has_text").fill_null(True).to_numpy(zero_copy_only=False), bool)
    out = [("all", "all", base)]
    for kind in ("action", "lang", "pair"):
        if kind not in table.column_names:
            continue
        values = np.asarray(table.column(kind).to_numpy(zero_copy_only=False), dtype=object)
        for value in sorted({v for v in values[base]}, key=str):
            out.append((kind, str(value), base & (values == value)))
    return out


def summarize(
    table: pa.Table, cfg: EvalConfig, systems: Sequence[str] | None = None, no_text: bool = False
) -> list[dict]:
    """Recall@k with a bootstrap CI per (system, task, slice). `no_text`: only pairs whose entity has no
    title and no description (paper Table 3)."""
    systems = list(systems or rank_systems(table))
    rows = []
    tasks = list(dict.fromkeys(table.column("task").to_pylist())) if table.num_rows else []
    for task in tasks:
        for kind, value, mask in _slices(table, task, no_text):
            if not mask.any():
                continue
            for system in systems:
                ranks = table.column(RANK_PREFIX + system).to_numpy(zero_copy_only=False)[mask]
                if np.isnan(ranks.astype(float)).any():
                    continue  # the system does not do this task
                hits = (ranks <= cfg.k).astype(np.float64)
                lo, hi = percentile_interval(bootstrap_means(hits, cfg.bootstrap, cfg.seed))
                rows.append(
                    {
                        "system": system,
                        "task": task,
                        "slice": kind,
                        "value": value,
                        "subset": "no_text" if no_text else "all",
                        "pairs": int(mask.sum()),
                        "recall": float(hits.mean()),
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    return rows


def _paired_hits(
    table: pa.Table, cfg: EvalConfig, system: str, baseline: str, mask: np.ndarray
) -> np.ndarray:
    """(n, 2): hit@k of `system` and of `baseline` on the same pairs."""
    a = table.column(RANK_PREFIX + system).to_numpy(zero_copy_only=False)[mask].astype(float)
    b = table.column(RANK_PREFIX + baseline).to_numpy(zero_copy_only=False)[mask].astype(float)
    return np.stack([a <= cfg.k, b <= cfg.k], axis=1).astype(np.float64)


def recall_difference(
    table: pa.Table, cfg: EvalConfig, system: str, baseline: str, mask: np.ndarray
) -> tuple[float, float, float]:
    """(recall(system) - recall(baseline), CI low, CI high) by a paired bootstrap over the pairs."""
    hits = _paired_hits(table, cfg, system, baseline, mask)  # (n, 2)
    means = bootstrap_means(hits, cfg.bootstrap, cfg.seed)  # (B, 2)
    lo, hi = percentile_interval(means[:, 0] - means[:, 1])
    return float(hits[:, 0].mean() - hits[:, 1].mean()), lo, hi


def relative_gain(
    table: pa.Table, cfg: EvalConfig, system: str, baseline: str, mask: np.ndarray
) -> tuple[float, float, float]:
    """(recall(system) / recall(baseline) - 1, CI low, CI high) by a paired bootstrap over the pairs."""
    hits = _paired_hits(table, cfg, system, baseline, mask)  # (n, 2)
    means = bootstrap_means(hits, cfg.bootstrap, cfg.seed)  # (B, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = means[:, 0] / means[:, 1] - 1.0
        point = hits[:, 0].mean() / hits[:, 1].mean() - 1.0 if hits[:, 1].mean() > 0 else float("inf")
    finite = gains[np.isfinite(gains)]
    lo, hi = percentile_interval(finite) if len(finite) else (float("nan"), float("nan"))
    return float(point), lo, hi


def curves(ev: Evaluation, cfg: EvalConfig) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """system -> task -> [(corpus size, recall@k)]: the recall-vs-corpus-size curve."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for system, by_task in ev.ranks.items():
        for task, ranks in by_task.items():
            sizes = ev.sizes(task, cfg)
            out.setdefault(system, {})[task] = [
                (int(s), float(np.mean(ranks[:, j] <= cfg.k))) for j, s in enumerate(sizes)
            ]
    return out
