"""Evaluation reports: Recall@k tables in Markdown and JSON, the per-pair ranks, and plots.

`omnisage evaluate` writes `report.md`, `report.json`, `ranks.parquet` (one row per pair, one rank column
per system) and PNG plots into its output folder. Every number in the Markdown comes from the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.atomic import write_text
from omnisage.config import EvalConfig, config_to_dict
from omnisage.data.io import write_table
from omnisage.eval.evaluate import (
    Evaluation,
    curves,
    rank_systems,
    rank_table,
    recall_difference,
    relative_gain,
    summarize,
)
from omnisage.eval.metrics import CONFIDENCE

TASK_NAMES = {"pin": "query → pin", "product": "query → product", "query": "query → query"}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def cell(row: dict | None, ci: bool = True) -> str:
    """'0.652 (0.631–0.673)': recall@k and its bootstrap interval."""
    if row is None:
        return "–"
    text = f"{row['recall']:.3f}"
    return f"{text} ({row['ci_low']:.3f}–{row['ci_high']:.3f})" if ci else text


def gain_text(gain: float, lo: float | None = None, hi: float | None = None) -> str:
    if not np.isfinite(gain):
        return "–"
    text = f"{gain * 100:+.1f}%"
    return text if lo is None or not np.isfinite(lo) else f"{text} ({lo * 100:+.0f}…{hi * 100:+.0f}%)"


def recall_table(rows: list[dict], systems: Sequence[str], ci: bool = True, langs: bool = True) -> str:
    """Rows = task × (all, each action[, each language]); columns = systems."""
    by_key = {(r["system"], r["task"], r["slice"], r["value"]): r for r in rows}
    body = []
    for task in dict.fromkeys(r["task"] for r in rows):
        slices = [
            (r["slice"], r["value"])
            for r in rows
            if r["task"] == task and r["system"] == systems[0] and (langs or r["slice"] != "lang")
        ]
        for kind, value in dict.fromkeys(slices):
            n = by_key[(systems[0], task, kind, value)]["pairs"]
            label = "all" if kind == "all" else (value if kind == "action" else f"{kind}={value}")
            body.append(
                [
                    TASK_NAMES.get(task, task),
                    label,
                    n,
                    *(cell(by_key.get((s, task, kind, value)), ci) for s in systems),
                ]
            )
    return markdown_table(["task", "slice", "pairs", *systems], body)


def gains(table: pa.Table, cfg: EvalConfig, system: str, baselines: Sequence[str]) -> list[dict]:
    """Relative Recall@k gain of `system` over each baseline, per task and action, paired bootstrap CI."""
    out = []
    tasks = np.asarray(table.column("task").to_numpy(zero_copy_only=False), dtype=object)
    actions = np.asarray(table.column("action").to_numpy(zero_copy_only=False), dtype=object)
    for baseline in baselines:
        for task in dict.fromkeys(tasks.tolist()):
            groups = [("all", tasks == task)]
            groups += [
                (a, (tasks == task) & (actions == a)) for a in dict.fromkeys(actions[tasks == task].tolist())
            ]
            for action, mask in groups:
                both = mask.copy()
                for s in (system, baseline):
                    ranks = table.column("rank:" + s).to_numpy(zero_copy_only=False).astype(float)
                    both &= ~np.isnan(ranks)
                if not both.any():
                    continue
                g, lo, hi = relative_gain(table, cfg, system, baseline, both)
                out.append({"system": system, "baseline": baseline, "task": task, "action": action,
                            "gain": g, "ci_low": lo, "ci_high": hi})  # fmt: skip
    return out


def differences(table: pa.Table, cfg: EvalConfig, reference: str, systems: Sequence[str]) -> list[dict]:
    """Recall@k of each system minus the reference's, per task, on the pairs both rank, paired bootstrap CI."""
    out = []
    tasks = np.asarray(table.column("task").to_numpy(zero_copy_only=False), dtype=object)
    for system in systems:
        for task in dict.fromkeys(tasks.tolist()):
            both = tasks == task
            for s in (system, reference):
                both &= ~np.isnan(table.column("rank:" + s).to_numpy(zero_copy_only=False).astype(float))
            if both.any():
                d, lo, hi = recall_difference(table, cfg, system, reference, both)
                out.append({"system": system, "reference": reference, "task": task, "pairs": int(both.sum()),
                            "difference": d, "ci_low": lo, "ci_high": hi})  # fmt: skip
    return out


def evaluation_report(
    ev: Evaluation, cfg: EvalConfig, *, command: str, primary: str | None = None
) -> tuple[dict, pa.Table]:
    """(the JSON report, the per-pair rank table) of one evaluation run."""
    table = rank_table(ev)
    systems = rank_systems(table)
    primary = primary or systems[0]
    w = ev.windows
    report = {
        "command": command,
        "k": cfg.k,
        "config": config_to_dict(cfg),
        "windows": {
            "train_end": w.train_end.isoformat(),
            "eval_start": w.eval_start.isoformat(),
            "eval_end": w.eval_end.isoformat(),
        },
        "sets": {
            task: {
                "pairs": s.pairs.num_rows,
                "corpus": len(s.corpus),
                "by_action": {
                    a: s.pairs.column("action").to_pylist().count(a)
                    for a in dict.fromkeys(s.pairs.column("action").to_pylist())
                },
                "dropped": s.dropped,
            }
            for task, s in ev.sets.items()
        },
        "systems": systems,
        "primary": primary,
        "seconds": ev.seconds,
        "recall": summarize(table, cfg),
        "recall_no_text": summarize(table, cfg, no_text=True),
        "gains": gains(table, cfg, primary, [s for s in systems if s != primary]),
        "curves": curves(ev, cfg),
    }
    return report, table


def evaluation_markdown(report: dict) -> str:
    k, systems = report["k"], report["systems"]
    w = report["windows"]
    sets = "; ".join(
        f"{TASK_NAMES.get(t, t)}: {s['pairs']:,} pairs vs {s['corpus']:,} corpus"
        for t, s in report["sets"].items()
    )
    parts = [
        f"# Recall@{k}\n",
        f"Command: `{report['command']}`\n",
        f"Training and features end {w['train_end'][:19]}; evaluation window "
        f"{w['eval_start'][:19]} → {w['eval_end'][:19]}. {sets}. "
        f"Rank = 1 + corpus items scoring ≥ the positive; intervals: "
        f"{CONFIDENCE:.0%} bootstrap over pairs.\n",
        f"## Recall@{k} per task and action\n",
        recall_table(report["recall"], systems, langs=False),
        f"\n## Recall@{k} per language\n",
        recall_table([r for r in report["recall"] if r["slice"] in ("all", "lang")], systems, ci=False),
    ]
    if report["gains"]:
        baselines = list(dict.fromkeys(g["baseline"] for g in report["gains"]))
        by_key = {(g["task"], g["action"], g["baseline"]): g for g in report["gains"]}
        rows = [
            [TASK_NAMES.get(task, task), action]
            + [
                gain_text(g["gain"], g["ci_low"], g["ci_high"])
                if (g := by_key.get((task, action, b)))
                else "–"
                for b in baselines
            ]
            for task, action in dict.fromkeys((g["task"], g["action"]) for g in report["gains"])
        ]
        parts += [
            f"\n## Relative gain of {report['primary']} over each baseline\n",
            markdown_table(["task", "slice", *baselines], rows),
        ]
    if report["recall_no_text"]:
        parts += [
            "\n## Items with no title and no description\n",
            recall_table(report["recall_no_text"], systems, langs=False),
        ]
    if report.get("downstream"):
        rows = [
            [d["level"], d["classes"], f"{d['train_queries']:,} / {d['test_queries']:,}",
             f"{d['embedding_precision']:.3f}", f"{d['fasttext_precision']:.3f}", gain_text(d["gain"])]
            for d in report["downstream"]
        ]  # fmt: skip
        parts += [
            "\n## Downstream: query-interest classification (precision@1 per taxonomy level)\n",
            markdown_table(
                ["level", "classes", "train / test", "linear on embeddings", "fastText-style", "gain"], rows
            ),
        ]
    seconds = ", ".join(f"{s} {t:.0f} s" for s, t in report["seconds"].items())
    parts.append(f"\nWall time (encoding + ranking): {seconds}.\n")
    return "\n".join(parts)


def headline(report: dict) -> str:
    """The main table alone (Recall@k per task and action, every system), for the terminal."""
    return f"Recall@{report['k']} per task and action\n\n" + recall_table(
        report["recall"], report["systems"], ci=False, langs=False
    )


def write_evaluation(out_dir: str | Path, report: dict, table: pa.Table, plots: bool = True) -> list[Path]:
    """Write report.json, report.md, ranks.parquet and (with matplotlib) the plots; returns the paths."""
    out = Path(out_dir)
    paths = [
        write_text(out / "report.json", json.dumps(report, indent=1, default=str) + "\n"),
        write_text(out / "report.md", evaluation_markdown(report)),
        write_table(table, out / "ranks.parquet"),
    ]
    if plots:
        from omnisage.eval.plots import plot_curves, plot_languages

        paths += [
            plot_curves(report, out / "recall_vs_corpus.png"),
            plot_languages(report, out / "recall_by_language.png"),
        ]
    return paths


def update_readme(path: str | Path, source: str, markdown: str, command: str) -> Path:
    """Put `markdown` into the README between `<!-- results:SOURCE -->` markers (appended under a
    '## Results' heading the first time), stating the command that produced it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    start, end = f"<!-- results:{source} -->", f"<!-- /results:{source} -->"
    block = f"{start}\nGenerated by `{command}`:\n\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        if "\n## Results\n" not in text:
            text = text.rstrip("\n") + "\n\n## Results\n"
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    return write_text(path, text)
