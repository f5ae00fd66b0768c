"""The paper's Tables 2–6 (§4.3) from the ablation runner's per-pair ranks (`ablations.py`), as JSON rows and
Markdown, plus the issue's acceptance checks computed from the same numbers (never tuned, only reported).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.config import EvalConfig
from omnisage.eval.evaluate import RANK_PREFIX, rank_systems, relative_gain, summarize
from omnisage.eval.metrics import bootstrap_means
from omnisage.eval.report import TASK_NAMES, cell, gain_text, markdown_table
from omnisage.experiments.variants import ABLATION_VARIANTS

BASELINE_LABELS = {
    "bm25": "BM25",
    "bm25_enriched": "BM25 + enrichments",
    "zero_shot": "zero-shot MiniLM",
    "random": "random",
}


def pair_mask(table: pa.Table, task: str, action: str | None = None, no_text: bool = False) -> np.ndarray:
    """(N,) bool: the rank table's pairs of one task (and action; with `no_text`, of items without own text)."""
    mask = pc.equal(table.column("task"), task)
    if action is not None:
        mask = pc.and_(mask, pc.equal(table.column("action"), action))
    if no_text:
        mask = pc.and_(mask, pc.invert(pc.fill_null(table.column("has_text"), True)))
    return mask.to_numpy(zero_copy_only=False)


def _hits(table: pa.Table, system: str, mask: np.ndarray, k: int) -> np.ndarray | None:
    """(N,) bool: the masked pairs the system ranks in its top k; None if it has no complete ranks there."""
    if system not in rank_systems(table) or not mask.any():
        return None
    ranks = table.column(RANK_PREFIX + system).to_numpy(zero_copy_only=False)[mask].astype(float)
    return None if np.isnan(ranks).any() else ranks <= k


def _recall(table: pa.Table, system: str, mask: np.ndarray, k: int) -> float | None:
    hits = _hits(table, system, mask, k)
    return None if hits is None else float(hits.mean())


def _num(value: float | None, prev: float | None = None) -> str:
    if value is None:
        return "–"
    if prev is None or prev == 0:
        return f"{value:.3f}"
    return f"{value:.3f} ({(value / prev - 1) * 100:+.0f}%)"


def _slices(table: pa.Table, tasks: Sequence[str]) -> list[tuple[str, str | None]]:
    """(task, action) for every action present, task by task."""
    out = []
    for task in tasks:
        actions = table.filter(pc.equal(table.column("task"), task)).column("action").to_pylist()
        out += [(task, a) for a in dict.fromkeys(actions)]
    return out


def table2(table: pa.Table, cfg: EvalConfig) -> tuple[dict, str]:
    """SearchSage vs the full model, every task, action and language, with the baselines beside them."""
    systems = [s for s in ("searchsage", "full", *BASELINE_LABELS) if s in rank_systems(table)]
    rows = summarize(table, cfg, systems)
    by = {(r["system"], r["task"], r["slice"], r["value"]): r for r in rows}
    body, gains = [], []
    for r in rows:
        if r["system"] != "full" or r["slice"] == "all":
            continue
        key = (r["task"], r["slice"], r["value"])
        mask = _mask(table, *key)
        g = (
            relative_gain(table, cfg, "full", "searchsage", mask)
            if "searchsage" in systems
            else (np.nan,) * 3
        )
        gains.append(
            {"task": key[0], "slice": key[1], "value": key[2], "gain": g[0], "ci_low": g[1], "ci_high": g[2]}
        )
        label = key[2] if key[1] == "action" else f"{key[1]}={key[2]}"
        body.append(
            [TASK_NAMES.get(key[0], key[0]), label, r["pairs"], cell(by.get(("searchsage", *key))), cell(r),
             gain_text(*g), *(cell(by.get((b, *key)), ci=False) for b in BASELINE_LABELS if b in systems)]
        )  # fmt: skip
    header = ["task", "slice", "pairs", "SearchSage", "OmniSage", "gain"]
    header += [BASELINE_LABELS[b] for b in BASELINE_LABELS if b in systems]
    return {"recall": rows, "gain_vs_searchsage": gains}, markdown_table(header, body)


def _mask(table: pa.Table, task: str, kind: str, value: str) -> np.ndarray:
    mask = pair_mask(table, task)
    if kind != "all":
        mask &= np.asarray(table.column(kind).to_numpy(zero_copy_only=False), dtype=object) == value
    return mask


def table3(table: pa.Table, cfg: EvalConfig) -> tuple[list[dict], str]:
    """Captions on pins with no title and no description."""
    actions = [a for t, a in _slices(table, ["pin"])]
    values = {
        v: {a: _recall(table, v, pair_mask(table, "pin", a, no_text=True), cfg.k) for a in actions}
        for v in ("no_captions", "text")
    }
    n = {a: int(pair_mask(table, "pin", a, no_text=True).sum()) for a in actions}

    def improvement(a: str) -> str:
        base, new = values["no_captions"][a], values["text"][a]
        if base is None or new is None:
            return "–"
        return f"{(new / base - 1) * 100:+.1f}%" if base > 0 else f"{new - base:+.3f} (from 0)"

    gain = [improvement(a) for a in actions]
    body = [
        ["no captions", *(_num(values["no_captions"][a]) for a in actions)],
        ["with captions", *(_num(values["text"][a]) for a in actions)],
        ["improvement", *gain],
    ]
    header = ["pins without title/description", *(f"{a} (n={n[a]})" for a in actions)]
    return [{"variant": v, "recall": values[v], "pairs": n} for v in values], markdown_table(header, body)


def _history_masks(table: pa.Table, task: str) -> list[tuple[str, np.ndarray]]:
    """("pair=new", mask), ("pair=repeat", mask) for the task's pairs: held-out pairs never engaged before
    the training cutoff vs pairs a model can have memorized (none for ranks stored without the column)."""
    if "pair" not in table.column_names:
        return []
    history = np.asarray(table.column("pair").to_numpy(zero_copy_only=False), dtype=object)
    base = pair_mask(table, task)
    masks = [(f"pair={v}", base & (history == v)) for v in ("new", "repeat")]
    return [(name, mask) for name, mask in masks if mask.any()]


def table4(table: pa.Table, cfg: EvalConfig) -> tuple[list[dict], str]:
    """Text enrichments added one at a time (query→pin); each change is relative to the row above."""
    steps = [("continuous", "continuous features only"), ("text", "+ title, description, captions"),
             ("boards", "+ board titles"), ("full", "+ engaged queries")]  # fmt: skip
    columns = [("all pin pairs", pair_mask(table, "pin"))]
    columns += [(a, pair_mask(table, "pin", a)) for _, a in _slices(table, ["pin"])]
    columns += _history_masks(table, "pin")
    out, body, prev = [], [], {}
    for variant, label in steps:
        values = {c: _recall(table, variant, mask, cfg.k) for c, mask in columns}
        body.append([label, *(_num(values[c], prev.get(c)) for c, _ in columns)])
        out.append({"variant": variant, "recall": values})
        prev = values
    return out, markdown_table(["query → pin", *(c for c, _ in columns)], body)


TASK_BATCH = "train.batch_size=<its tasks' share of the full batch>"
_SINGLE_COLUMNS = (("", "single task, same batch"), ("_share", "single task, same pairs per step"))


def table5(table: pa.Table, cfg: EvalConfig) -> tuple[list[dict], str]:
    """Each task's single-task models vs the multi-task model, same steps: with the full model's batch (the
    paper's protocol: the same compute) and with the task's share of it (the same pairs of the task per step)."""
    out, body = [], []
    for task in ("pin", "product", "query"):
        rows = [(a, pair_mask(table, task, a)) for _, a in _slices(table, [task])]
        names = [f"{task}_only{suffix}" for suffix, _ in _SINGLE_COLUMNS]
        for slice_name, mask in rows + _history_masks(table, task):
            values = {v: _recall(table, v, mask, cfg.k) for v in (*names, "full")}
            out.append({"task": task, "slice": slice_name, "recall": values})
            body.append([TASK_NAMES[task], slice_name, *(_num(v) for v in values.values())])
    header = ["task", "slice", *(label for _, label in _SINGLE_COLUMNS), "multi-task"]
    return out, markdown_table(header, body)


def table6(table: pa.Table, cfg: EvalConfig) -> tuple[list[dict], str]:
    """Compatibility towers: SearchSage vs the full model's, and the learned towers with vs without them."""
    out, body = [], []
    for task, action in _slices(table, ["pin", "product"]):
        mask = pair_mask(table, task, action)
        values = {
            s: _recall(table, s, mask, cfg.k) for s in ("searchsage", "full-compat", "no_compat", "full")
        }
        out.append({"task": task, "action": action, "recall": values})
        body.append([TASK_NAMES[task], action, *(_num(v) for v in values.values())])
    header = [
        "task",
        "action",
        "SearchSage",
        "OmniSage compat towers",
        "learned, no compat",
        "learned, with compat",
    ]
    return out, markdown_table(header, body)


BUILDERS = {"2": table2, "3": table3, "4": table4, "5": table5, "6": table6}
TITLES = {
    "2": "Table 2: OmniSage vs SearchSage (and baselines)",
    "3": "Table 3: captions on pins with no title and no description",
    "4": "Table 4: text enrichments, added one at a time (query → pin)",
    "5": "Table 5: single-task vs multi-task",
    "6": "Table 6: compatibility towers",
}


def acceptance_checks(table: pa.Table, cfg: EvalConfig) -> list[dict]:
    """The issue's 'done when' claims, each checked on these numbers (passed or not, never adjusted)."""
    have = set(rank_systems(table))
    checks = []

    def add(claim: str, ok: bool | None, detail: str) -> None:
        checks.append({"claim": claim, "passed": ok, "detail": detail})

    for task in ("pin", "product", "query"):
        full = _recall(table, "full", pair_mask(table, task), cfg.k)
        for other in ("searchsage", "bm25", "bm25_enriched", "zero_shot"):
            theirs = _recall(table, other, pair_mask(table, task), cfg.k)
            if full is not None and theirs is not None:
                extra = " (ours, not in the paper)" if other == "bm25_enriched" else ""
                claim = f"full model beats {other} on query→{task}{extra}"
                add(claim, full > theirs, f"{full:.3f} vs {theirs:.3f}")
    if {"continuous", "text", "boards", "full"} <= have:
        for _, action in _slices(table, ["pin"]):
            mask = pair_mask(table, "pin", action)
            hits = np.stack(
                [_hits(table, v, mask, cfg.k) for v in ("continuous", "text", "boards", "full")], 1
            )
            chain = hits.mean(0)  # (4,) recall of each variant
            steps, lows = _step_intervals(hits, cfg)
            add(
                # "adds" = outside the noise: every step's 95% paired interval lies above zero
                f"each Table 4 enrichment adds recall, every step's interval above 0 (pin {action})",
                bool(np.all(lows > 0)),
                " → ".join(f"{v:.3f}" for v in chain) + "; steps " + steps,
            )
    # Table 5: the multi-task model may trail a single-task one by 0.03 on the big task, not on the small one.
    for suffix, label in _SINGLE_COLUMNS:
        for task, rule, slack in (("pin", "within 0.03 of", 0.03), ("query", "at least", 0.0)):
            single_name, mask = f"{task}_only{suffix}", pair_mask(table, task)
            if {single_name, "full"} <= have and mask.any():
                single, multi = (_recall(table, v, mask, cfg.k) for v in (single_name, "full"))
                claim = f"multi-task {rule} {label} on query→{task}"
                add(claim, multi >= single - slack, f"{multi:.3f} vs {single:.3f}")
    return checks


def _step_intervals(hits: np.ndarray, cfg: EvalConfig) -> tuple[str, np.ndarray]:
    """Each step's recall difference along the (N, V) hits of V variants on the same pairs, with its 95%
    paired-bootstrap interval over the pairs, as text; and the intervals' lower bounds (V-1,)."""
    means = bootstrap_means(hits, n_boot=cfg.bootstrap, seed=cfg.seed)  # (B, V)
    low, high = np.percentile(np.diff(means, axis=1), [2.5, 97.5], axis=0)  # (V-1,) each
    point = np.diff(hits.mean(0))  # (V-1,)
    text = ", ".join(f"{p:+.3f} ({lo:+.3f}…{hi:+.3f})" for p, lo, hi in zip(point, low, high, strict=True))
    return text, low


def ablation_report(
    table: pa.Table, cfg: EvalConfig, tables: Sequence[str], command: str, sets: dict
) -> tuple[dict, str]:
    """(JSON, Markdown) of the requested tables."""
    report: dict = {"command": command, "k": cfg.k, "tables": {}, "variants": {}}
    parts = [f"# Ablations (paper §4.3): Recall@{cfg.k}\n", f"Command: `{command}`\n"]
    pairs = "; ".join(
        f"{TASK_NAMES[t]} {s.pairs.num_rows:,} pairs vs {len(s.corpus):,}" for t, s in sets.items()
    )
    parts.append(f"Every variant is ranked on the same held-out pairs and random corpora: {pairs}.\n")
    for t in tables:
        rows, markdown = BUILDERS[t](table, cfg)
        report["tables"][t] = rows
        parts += [f"## {TITLES[t]}\n", markdown, ""]
    systems = rank_systems(table)
    used = [v for v in ABLATION_VARIANTS if any(c == v.name or c.startswith(v.name + "-") for c in systems)]
    overrides = {v.name: [*v.overrides, *[TASK_BATCH] * v.task_batch] for v in used}
    report["variants"] = {v.name: {"overrides": overrides[v.name], "about": v.about} for v in used}
    parts += ["## Variants\n", markdown_table(["variant", "what", "overrides"],
              [[v.name, v.about, " ".join(f"`{o}`" for o in overrides[v.name]) or "–"] for v in used]), ""]  # fmt: skip
    checks = acceptance_checks(table, cfg)
    report["checks"] = checks
    if checks:
        parts += ["## Acceptance checks\n", markdown_table(["claim", "result", "numbers"],
                  [[c["claim"], "pass" if c["passed"] else "FAIL", c["detail"]] for c in checks]), ""]  # fmt: skip
    return report, "\n".join(parts)
