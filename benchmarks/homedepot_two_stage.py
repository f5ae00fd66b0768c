"""Two-stage Recall@10 on a finished Home Depot bench folder, with the full model or the hybrid as first stage.

Reuses OUT's enriched table, trained full model and relevance model (teacher, silver labels and students are
loaded, not retrained), rebuilds the same split and evaluation set, and ranks each held-out pair as the benchmark's
two-stage rows do: the first stage's top --candidates re-ranked by the student. First stages: the full model (the
report's `two_stage` row) and the hybrid (full model + bench.hybrid_weight · BM25, the report's hybrid row).

  python benchmarks/homedepot_two_stage.py --data train.csv --test test.csv --out bench_out/homedepot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from omnisage import progress
from omnisage.config import load_config
from omnisage.data.judgments import relevance_labels
from omnisage.eval.metrics import recall_with_ci
from omnisage.eval.run import load_bundle
from omnisage.eval.systems import model_system
from omnisage.experiments.product_search import hybrid_system, read_sources
from omnisage.experiments.relevance_bench import student_reranker
from omnisage.experiments.split import eval_sets, split_by_file, split_by_query
from omnisage.features.enriched import OUTPUT
from omnisage.relevance.pipeline import run_relevance
from omnisage.relevance.two_stage import two_stage_ranks


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="the bench's training CSV")
    parser.add_argument("--test", help="its --test CSV, if the run had one")
    parser.add_argument("--out", required=True, help="a finished `omnisage bench homedepot` folder")
    parser.add_argument(
        "--candidates", type=int, help="first-stage candidates (default: relevance.rerank_candidates)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    bundle = out / "variants" / "omnisage" / "model"
    if not (out / "enriched" / OUTPUT).is_file() or not bundle.is_dir() or not (out / "relevance").is_dir():
        print(f"{out}: no finished bench run with the full model and its relevance stage", file=sys.stderr)
        return 2
    progress.ENABLED = False  # a report, not an interactive run
    config = load_config("bench")
    data, test = read_sources("homedepot", data=args.data, test=args.test)
    split = split_by_file(data, test) if test is not None else split_by_query(data, config.bench.eval_share,
                                                                               config.bench.seed)  # fmt: skip
    entities = pq.read_table(out / "enriched" / OUTPUT)
    evalset = eval_sets(split, entities, config.eval)[0]["product"]
    model = load_bundle(bundle)
    gold = relevance_labels(split.training.judgments)
    held = sorted(set(relevance_labels(split.heldout_judged).column("query_text").to_pylist()))
    queries = sorted(set(gold.column("query_text").to_pylist()))
    _, students, catalog = run_relevance(
        gold, split.training.scale, entities, model, queries, out / "relevance", config.relevance,
        heldout_queries=held, labels_in_logs=True, progress=False, log=lambda _: None,
    )  # fmt: skip
    n = args.candidates or config.relevance.rerank_candidates
    dense = model_system(model).scorer(evalset)
    rerank = student_reranker(evalset, dense.query_vectors, catalog, students["student"])
    print(
        f"{len(evalset.positives):,} held-out pairs, {len(evalset.corpus):,} random products, top {n} re-ranked"
    )
    for name, scorer in (("full model", dense), ("hybrid", hybrid_system(model, config).scorer(evalset))):
        for stage, reranker in (("first stage", None), ("+ student", rerank)):
            r, lo, hi = recall_with_ci(two_stage_ranks(scorer, evalset, reranker, n), config.eval.k)
            print(f"  {name:<10} {stage:<12} Recall@{config.eval.k} {r:.3f} ({lo:.3f}-{hi:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
