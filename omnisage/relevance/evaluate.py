"""The relevance report: every system's RMSE, grade accuracy and nDCG@10 on held-out labels, overall and per
language, with the paired differences that matter (student − cosine, student − gold-only student).

Systems: `mean` (the training labels' mean), `bm25` and `cosine` (one feature of the student, mapped onto the
scale by a least-squares line fitted on the training labels, so RMSE and accuracy are comparable), the `teacher`,
the student on gold labels only (`student_gold`) and on gold + silver (`student`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.data.scale import RelevanceScale
from omnisage.relevance.metrics import Interval, relevance_report
from omnisage.relevance.pairs import with_item_text

SYSTEMS = ("mean", "bm25", "cosine", "teacher", "student_gold", "student")
CALIBRATED = {"bm25": "bm25_text", "cosine": "cosine"}  # system -> the student feature it reads
COMPARISONS = (("student", "cosine"), ("student", "student_gold"), ("student", "teacher"))


def calibrate(x: np.ndarray, y: np.ndarray, scale: RelevanceScale) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line from a feature to the label."""
    if np.ptp(x) == 0:
        return 0.0, float(np.mean(y))
    slope, intercept = np.polyfit(np.asarray(x, np.float64), np.asarray(y, np.float64), 1)
    return float(slope), float(intercept)


def predictions(
    pairs: pa.Table, *, train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, names: tuple[str, ...],
    scale: RelevanceScale, teacher: Any, students: dict[str, Any], entities: pa.Table,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Every system's predicted label of each pair (features `x`, their training counterpart `train_x`)."""
    preds = {"mean": np.full(pairs.num_rows, float(np.mean(train_y)))}
    for system, feature in CALIBRATED.items():
        col = names.index(feature)
        slope, intercept = calibrate(train_x[:, col], train_y, scale)
        preds[system] = np.clip(slope * x[:, col] + intercept, scale.low, scale.high)
    texts = with_item_text(
        pairs.select(["query_text", "entity_type", "entity_id"]), entities, what="held-out labels"
    )
    preds["teacher"] = teacher.predict(
        texts.column("query_text").to_pylist(), texts.column("item_text").to_pylist()
    ).score
    for name in ("student_gold", "student"):
        preds[name] = students[name].predict(x)
    return preds


def _table(report: dict[str, dict[str, Interval]]) -> dict[str, dict[str, list[float]]]:
    return {
        name: {m: [v.value, v.low, v.high] for m, v in metrics.items()} for name, metrics in report.items()
    }


def report_for(
    preds: dict[str, np.ndarray],
    labels: np.ndarray,
    queries: np.ndarray,
    langs: list[str],
    scale: RelevanceScale,
) -> dict[str, Any]:
    """{"all": {system: {metric: [value, low, high]}}, "by_lang": {...}, "differences": {...}} (95% intervals
    over resampled queries; differences paired)."""
    out: dict[str, Any] = {"pairs": len(labels), "queries": len(np.unique(queries))}
    out["all"] = _table(relevance_report(preds, labels, queries, scale))
    out["differences"] = {}
    out["by_lang"] = {}
    lang = np.asarray(langs, dtype=object)
    for code in sorted(set(langs)):
        mask = lang == code
        part = {name: p[mask] for name, p in preds.items()}
        entry = {
            "pairs": int(mask.sum()),
            **_table(relevance_report(part, labels[mask], queries[mask], scale)),
        }
        for a, b in COMPARISONS:
            pair = relevance_report({b: part[b], a: part[a]}, labels[mask], queries[mask], scale)
            entry[f"{a} - {b}"] = _table(pair)[f"{a} - {b}"]
        out["by_lang"][code] = entry
    for a, b in COMPARISONS:
        out["differences"][f"{a} - {b}"] = _table(relevance_report({b: preds[b], a: preds[a]}, labels, queries,
                                                                    scale))[f"{a} - {b}"]  # fmt: skip
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables: systems × metrics, then per language, then the differences."""
    lines = [f"Held-out labels: {report['pairs']:,} pairs of {report['queries']:,} queries.", ""]
    metrics = list(next(iter(report["all"].values())))
    lines += ["| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name in SYSTEMS:
        if name in report["all"]:
            cells = [f"{v:.3f} ({lo:.3f}–{hi:.3f})" for v, lo, hi in report["all"][name].values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Accuracy by language:", "", "| lang | pairs | " + " | ".join(SYSTEMS) + " |",
              "|---" * (len(SYSTEMS) + 2) + "|"]  # fmt: skip
    for code, entry in report["by_lang"].items():
        cells = [f"{entry[s]['accuracy'][0]:.3f}" for s in SYSTEMS if s in entry]
        lines.append(f"| {code} | {entry['pairs']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences (95% intervals over queries):", ""]
    for name, metrics_ in report["differences"].items():
        cells = ", ".join(f"{m} {v:+.3f} ({lo:+.3f}…{hi:+.3f})" for m, (v, lo, hi) in metrics_.items())
        lines.append(f"- {name}: {cells}")
    return "\n".join(lines) + "\n"
