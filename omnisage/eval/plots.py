"""PNG plots for the evaluation reports: recall vs corpus size, recall per language, training curves.

matplotlib is an optional dependency (`omnisage[eval]`) and runs headless (the Agg backend).
"""

from __future__ import annotations

import json
from pathlib import Path

from omnisage.atomic import atomic_path
from omnisage.errors import MissingExtraError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("matplotlib", "eval") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def plot_curves(report: dict, path: Path) -> Path:
    """One panel per task: Recall@k against the corpus size (log scale), one line per system."""
    plt = _pyplot()
    tasks = list(report["sets"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for system in report["systems"]:
            points = report["curves"].get(system, {}).get(task)
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=system)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"query → {task}")
        ax.set_xlabel("corpus size")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"Recall@{report['k']}")
    axes[0][-1].legend(fontsize=8)
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_languages(report: dict, path: Path) -> Path:
    """Grouped bars per task: Recall@k per query language, one bar per system."""
    plt = _pyplot()
    rows = [r for r in report["recall"] if r["slice"] == "lang"]
    tasks = list(dict.fromkeys(r["task"] for r in rows)) or list(report["sets"])
    systems = report["systems"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for ax, task in zip(axes[0], tasks):
        langs = sorted({r["value"] for r in rows if r["task"] == task})
        for j, system in enumerate(systems):
            by_lang = {r["value"]: r for r in rows if r["task"] == task and r["system"] == system}
            xs = [i + j * width for i in range(len(langs))]
            ys = [by_lang[lang]["recall"] if lang in by_lang else 0.0 for lang in langs]
            err = [
                [
                    max(0.0, by_lang[lang]["recall"] - by_lang[lang]["ci_low"]) if lang in by_lang else 0.0
                    for lang in langs
                ],
                [
                    max(0.0, by_lang[lang]["ci_high"] - by_lang[lang]["recall"]) if lang in by_lang else 0.0
                    for lang in langs
                ],
            ]
            ax.bar(xs, ys, width, yerr=err, capsize=2, label=system)
        ax.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(langs))], langs)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"query → {task}")
    axes[0][0].set_ylabel(f"Recall@{report['k']}")
    axes[0][-1].legend(fontsize=8)
    path = _save(fig, path)
    plt.close(fig)
    return path


def read_training_log(path: Path) -> list[dict]:
    """The training loop's JSONL metrics (one object per logged step); unreadable lines are skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int | float):
            for key, value in list(record.items()):  # {"tasks": {"pin": 1.2}} -> {"loss/pin": 1.2}
                if isinstance(value, dict):
                    record.update({f"loss/{k}": v for k, v in record.pop(key).items()})
            out.append(record)
    return out


def plot_training(logs: dict[str, Path], path: Path) -> Path | None:
    """Loss curves of one or more training runs (name -> metrics.jsonl): every numeric '*loss*' field."""
    plt = _pyplot()
    series = {name: read_training_log(p) for name, p in logs.items() if Path(p).is_file()}
    series = {name: records for name, records in series.items() if records}
    if not series:
        return None
    keys = sorted({k for records in series.values() for r in records for k, v in r.items()
                   if "loss" in k and isinstance(v, int | float)})  # fmt: skip
    keys = keys or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, records in series.items():
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), int | float)]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path
