"""Where two ablation variants differ: query→pin Recall@k of trained variants on slices of the held-out pairs
that a synthetic world's truth and the enriched table define, with the paired step between the first and the
last variant and its 95% bootstrap interval.

    .venv/bin/python benchmarks/slice_recall.py --data bench_out/world50k_bs --enriched bench_out/enriched50k_bs \\
        --ablate bench_out/ablate50k_bs --variants text,boards [--set train.steps=2400]

The variants are the ablation runner's (`omnisage ablate`): any not yet trained under ABLATE is trained, any
not yet ranked is ranked on the evaluation protocol's pairs and stored beside it, as `ablate` does, so the
numbers sit beside ABLATE's report (pass ABLATE's own --set options). Slices:

- the pin has its own text (title or description) or not;
- the query names no attribute, only ones the image shows (colour, material), or one it does not (style,
  season, diet, level): those a model can only read from text, board titles or engaged queries;
- the pin's board titles hold a word of the query that its title, description and caption lack;
- the pair is new or a repeat (engaged before the training cutoff).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.eval.evaluate import RANK_PREFIX
from omnisage.eval.metrics import bootstrap_means, percentile_interval
from omnisage.eval.run import load_entities
from omnisage.experiments.ablations import rank_variants
from omnisage.synth.lexicon import VISUAL_KINDS, load_lexicon
from omnisage.text.normalize import normalize

_WORD = re.compile(r"\w+")


def _words(text: str | None) -> set[str]:
    return set(_WORD.findall(normalize(text))) if text else set()


def attribute_slice(queries: Sequence[str], truth: pa.Table) -> np.ndarray:
    """(N,) 'none' / 'visual' / 'not visual': the most telling attribute kind each query names."""
    kind = {a.name: a.kind for a in load_lexicon().attributes}
    attrs = dict(zip(truth.column("query_text").to_pylist(), truth.column("attributes").to_pylist()))
    out = []
    for q in queries:
        kinds = {kind.get(a, "") for a in attrs.get(q) or ()}
        out.append("none" if not kinds else "visual" if kinds <= set(VISUAL_KINDS) else "not visual")
    return np.array(out)


def board_only_words(queries: Sequence[str], pins: Sequence[str], entities: pa.Table) -> np.ndarray:
    """(N,) bool: the pin's board titles hold a word of the query its own title, description and caption
    lack."""
    rows = entities.filter(pc.equal(entities.column("entity_type"), "pin"))
    at = {e: i for i, e in enumerate(rows.column("entity_id").to_pylist())}
    cols = {c: rows.column(c) for c in ("title", "description", "caption", "board_titles")}
    out = np.zeros(len(queries), dtype=bool)
    for n, (query, pin) in enumerate(zip(queries, pins)):
        i = at.get(pin)
        if i is None:
            continue
        own = set().union(*(_words(cols[c][i].as_py()) for c in ("title", "description", "caption")))
        boards = set().union(*(_words(t) for t in cols["board_titles"][i].as_py() or ()))
        out[n] = bool((_words(query) - own) & boards)
    return out


def slice_rows(
    table: pa.Table, variants: Sequence[str], slices: dict[str, np.ndarray], k: int
) -> list[tuple[str, int, list[float], float, float, float]]:
    """(slice, pairs, recall per variant, step last - first, its 95% paired interval) per non-empty slice."""
    hits = np.stack(
        [table.column(RANK_PREFIX + v).to_numpy(zero_copy_only=False).astype(float) <= k for v in variants],
        axis=1,
    )  # (N, V)
    out = []
    for name, mask in slices.items():
        if not mask.any():
            continue
        h = hits[mask].astype(np.float64)  # (n, V)
        step = h[:, -1] - h[:, 0]
        lo, hi = percentile_interval(bootstrap_means(step))
        out.append((name, int(mask.sum()), list(h.mean(axis=0)), float(step.mean()), lo, hi))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="synthetic world (with truth/)")
    p.add_argument("--enriched", type=Path, default=None, help="enriched_entities.parquet or its folder")
    p.add_argument("--ablate", type=Path, required=True, help="the ablation folder (omnisage ablate --out)")
    p.add_argument("--variants", default="text,boards", help="comma list; the step is last minus first")
    p.add_argument("--config", default="default")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()
    truth = args.data / "truth" / "query_interests.parquet"
    if not truth.is_file():
        raise SystemExit(f"{truth}: missing (only synthetic worlds carry their truth)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if len(variants) < 2:
        raise SystemExit("--variants needs at least two variants")
    table, _, _, _ = rank_variants(
        args.data, args.ablate, args.config, args.overrides, names=variants, entities=args.enriched
    )
    table = table.filter(pc.equal(table.column("task"), "pin"))
    queries = table.column("query_text").to_pylist()
    has_text = pc.fill_null(table.column("has_text"), True).to_numpy(zero_copy_only=False)
    attrs = attribute_slice(queries, pq.read_table(truth))
    board_words = board_only_words(
        queries, table.column("entity_id").to_pylist(), load_entities(args.data, args.enriched)
    )
    pair = table.column("pair").to_numpy(zero_copy_only=False)
    slices = {
        "all pin pairs": np.ones(len(queries), dtype=bool),
        "pin with text": has_text,
        "pin without text": ~has_text,
        "query names no attribute": attrs == "none",
        "query names visual attributes only": attrs == "visual",
        "query names a non-visual attribute": attrs == "not visual",
        "  ... and the pin has no text": (attrs == "not visual") & ~has_text,
        "board titles hold a query word the pin's text lacks": board_words,
        "no such board-title word": ~board_words,
        "new pair": pair == "new",
        "repeat pair": pair == "repeat",
    }
    first, last = variants[0], variants[-1]
    print(f"query→pin Recall@{args.k} by slice ({args.ablate}); step = {last} − {first}, 95% paired interval")
    print("| slice | pairs | " + " | ".join(variants) + " | step |")
    print("|---|---" + "|---" * len(variants) + "|---|")
    for name, n, recalls, step, lo, hi in slice_rows(table, variants, slices, args.k):
        cells = " | ".join(f"{r:.3f}" for r in recalls)
        print(f"| {name} | {n} | {cells} | {step:+.3f} ({lo:+.3f}…{hi:+.3f}) |")


if __name__ == "__main__":
    main()
