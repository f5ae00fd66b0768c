"""The real-data benchmark's report: Recall@10 per system with bootstrap intervals, in Markdown + JSON.

Every number in `report.md` comes from `report.json`; `ranks.parquet` keeps each held-out pair's rank under
every system, so any other cut of the results can be recomputed without rerunning anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnisage.atomic import write_text
from omnisage.config import Config, config_to_dict
from omnisage.data.io import write_table
from omnisage.data.judgments import RelevanceSet
from omnisage.eval.evaluate import Evaluation, rank_systems, rank_table, summarize
from omnisage.eval.report import TASK_NAMES, cell, differences, gain_text, gains, markdown_table
from omnisage.experiments.harness import Trained
from omnisage.experiments.split import BenchSplit
from omnisage.experiments.variants import BENCH_BASELINES, BENCH_VARIANTS, HYBRID, HYBRID_ABOUT, PEER, by_name

PRIMARY = "omnisage"


def _about(system: str) -> str:
    variants = by_name(BENCH_VARIANTS)
    if system in BENCH_BASELINES:
        return BENCH_BASELINES[system]
    if system == HYBRID:
        return HYBRID_ABOUT
    if system.endswith("-compat") and system[: -len("-compat")] in variants:
        return "the full model's compatibility tower: query prefix vs the frozen legacy vectors"
    return variants[system].about if system in variants else system


def bench_report(
    ev: Evaluation,
    config: Config,
    data: RelevanceSet,
    split: BenchSplit,
    trained: dict[str, Trained],
    seconds: dict[str, float],
    *,
    command: str,
) -> tuple[dict[str, Any], pa.Table]:
    """(the JSON report, the per-pair rank table)."""
    table = rank_table(ev)
    systems = rank_systems(table)
    rows = [r for r in summarize(table, config.eval) if r["slice"] == "all"]
    summaries = {}
    for name, t in trained.items():
        path = t.bundle.parent / "train_summary.json"
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            summaries[name] = {k: summary.get(k) for k in ("steps", "epochs", "pairs", "tasks", "notes")}
    primary = PRIMARY if PRIMARY in systems else systems[0]
    report = {
        "command": command,
        "source": data.source,
        "inputs": data.inputs,
        "k": config.eval.k,
        "data": {
            "products": data.products.num_rows,
            "judged_pairs": data.judgments.num_rows,
            "engaged_pairs": data.engaged().num_rows,
            "rejected_rows": len(data.rejections),
            "rejected_by_reason": data.rejections.counts(),
            "notes": data.notes,
        },
        "split": split.about,
        "sets": {t: {"pairs": s.pairs.num_rows, "corpus": len(s.corpus)} for t, s in ev.sets.items()},
        "systems": {s: _about(s) for s in systems},
        "recall": rows,
        "gains": [
            g
            for g in gains(table, config.eval, primary, [s for s in systems if s != primary])
            if g["action"] == "all"
        ],
        "primary": primary,
        # Every other system against the sentence-transformers peer, in points of Recall@k (when it was ranked).
        "versus": {
            "reference": PEER,
            "differences": differences(table, config.eval, PEER, [s for s in systems if s != PEER]),
        }
        if PEER in systems
        else None,
        "training": summaries,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "eval_seconds": {k: round(v, 1) for k, v in ev.seconds.items()},
        "config": config_to_dict(config),
    }
    return report, table


def bench_markdown(report: dict[str, Any]) -> str:
    k, data, split = report["k"], report["data"], report["split"]
    tasks = list(report["sets"])
    by_key = {(r["system"], r["task"]): r for r in report["recall"]}
    rejected = ", ".join(f"{n} {reason}" for reason, n in data["rejected_by_reason"].items()) or "none"
    sets = "; ".join(
        f"{TASK_NAMES.get(t, t)}: {s['pairs']:,} held-out pairs vs {s['corpus']:,} random corpus"
        for t, s in report["sets"].items()
    )
    header = ["system", *(f"{TASK_NAMES.get(t, t)} R@{k} (95% CI)" for t in tasks), "what it is"]
    body = [
        [f"**{s}**" if s == report["primary"] else s, *(cell(by_key.get((s, t))) for t in tasks), about]
        for s, about in report["systems"].items()
    ]
    parts = [
        f"# {report['source']}: Recall@{k} on held-out queries\n",
        f"Command: `{report['command']}`\n",
        f"Data: {data['judged_pairs']:,} judged pairs ({data['engaged_pairs']:,} engaged), "
        f"{data['products']:,} products; rejected rows: {data['rejected_rows']:,} ({rejected}).\n",
        "Split: " + ", ".join(f"{key.replace('_', ' ')} {n:,}" for key, n in split.items()) + ". "
        "No held-out query reaches training: not its pairs, not the engaged queries of its products, "
        "not the query→query pairs.\n",
        f"Protocol: {sets}. Rank = 1 + corpus items scoring ≥ the positive; intervals: 95% "
        "bootstrap over pairs.\n",
        markdown_table(header, body),
    ]
    if report["gains"]:
        rows = [
            [
                g["baseline"],
                TASK_NAMES.get(g["task"], g["task"]),
                gain_text(g["gain"], g["ci_low"], g["ci_high"]),
            ]
            for g in report["gains"]
        ]
        parts += [
            f"\nRelative gain of {report['primary']} (paired bootstrap):\n",
            markdown_table(["over", "task", "gain"], rows),
        ]
    parts += _versus_markdown(report)
    if report["training"]:
        rows = [
            [name, s.get("steps"), f"{s.get('epochs') or 0:.2f}", ", ".join(s.get("tasks") or []),
             f"{report['seconds'].get('train:' + name, 0):.0f} s"]
            for name, s in report["training"].items()
        ]  # fmt: skip
        parts += ["\nTraining:\n", markdown_table(["variant", "steps", "epochs", "tasks", "time"], rows)]
    parts += _relevance_markdown(report)
    seconds = ", ".join(f"{name} {t:.0f} s" for name, t in report["seconds"].items())
    parts.append(f"\nWall time: {seconds}.\n")
    return "\n".join(parts)


def write_report(out: str | Path, report: dict[str, Any], table: pa.Table) -> list[Path]:
    out = Path(out)
    return [
        write_text(out / "report.json", json.dumps(report, indent=1, default=str) + "\n"),
        write_text(out / "report.md", bench_markdown(report)),
        write_table(table, out / "ranks.parquet"),
    ]


def _versus_markdown(report: dict[str, Any]) -> list[str]:
    """Recall@k of each system minus the peer's: one row per system, one column per task."""
    versus = report.get("versus")
    if not versus or not versus["differences"]:
        return []
    tasks = list(dict.fromkeys(d["task"] for d in versus["differences"]))
    by_key = {(d["system"], d["task"]): d for d in versus["differences"]}
    rows = [
        [system, *(f"{d['difference']:+.3f} ({d['ci_low']:+.3f}…{d['ci_high']:+.3f})"
                   if (d := by_key.get((system, t))) else "–" for t in tasks)]
        for system in dict.fromkeys(d["system"] for d in versus["differences"])
    ]  # fmt: skip
    return [
        f"\nRecall@{report['k']} minus {versus['reference']}'s (paired bootstrap, 95% CI):\n",
        markdown_table(["system", *(TASK_NAMES.get(t, t) for t in tasks)], rows),
    ]


def _relevance_markdown(report: dict[str, Any]) -> list[str]:
    """The relevance model on the held-out queries' labels, and the two-stage Recall@10."""
    from omnisage.relevance.evaluate import markdown

    parts = []
    if "relevance" in report:
        parts += ["\n## Relevance model (held-out queries' labels)\n", markdown(report["relevance"])]
    stages = report.get("two_stage")
    if stages:

        def row(name: str, entry: dict[str, Any]) -> list[str]:
            value, low, high = entry["recall10"]
            return [name, f"{value:.3f} ({low:.3f}–{high:.3f})"]

        rows = [row(name, stages[name]) for name in ("first_stage", "student")]
        sample = stages["teacher_sample"]
        rows += [
            row(f"{name}, sample of {sample['pairs']}", sample[name])
            for name in ("first_stage", "student", "teacher")
        ]
        parts += [
            f"\n## Two-stage search: the full model's top {stages['candidates']} re-ranked "
            f"({stages['pairs']:,} product pairs, same corpus)\n",
            markdown_table(["system", "Recall@10 (95% CI)"], rows),
        ]
    return parts
