"""What outranks the positive when a Home Depot bench model misses (Recall@10), read from a bench output folder.

Reuses OUT's enriched table and trained variant, rebuilds the same split and evaluation set (the bench preset's
seeds), ranks as the protocol does, then for each missed pair asks: does the top 10 hold another product
that raters judged highly relevant (≥ 2.67) for the same query, or one whose title is a near-duplicate of the
positive's (word Jaccard ≥ --jaccard)? Also Recall@10 with the query's other judged positives left out of the
corpus ("filtered"), a reading of how much the one-positive protocol counts right answers as misses.

  python benchmarks/homedepot_misses.py --out bench_out/homedepot [--variant omnisage]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from omnisage import progress
from omnisage.config import load_config
from omnisage.data.homedepot import read_homedepot
from omnisage.eval.metrics import DenseScorer, positive_ranks
from omnisage.eval.run import load_bundle
from omnisage.eval.systems import model_system
from omnisage.experiments.split import eval_sets, split_by_query
from omnisage.features.enriched import OUTPUT
from omnisage.text.normalize import normalize

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot" / "train.csv"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=os.environ.get("OMNISAGE_HOMEDEPOT_CSV", str(DEFAULT)))
    parser.add_argument("--out", required=True, help="a finished `omnisage bench homedepot` folder")
    parser.add_argument("--variant", default="omnisage")
    parser.add_argument("--jaccard", type=float, default=0.6)
    args = parser.parse_args()
    out = Path(args.out)
    bundle = out / "variants" / args.variant / "model"
    if not (out / "enriched" / OUTPUT).is_file() or not bundle.is_dir():
        print(f"{out}: no finished bench run with variant '{args.variant}'", file=sys.stderr)
        return 2
    cfg = load_config("bench")
    data = read_homedepot(args.data)
    split = split_by_query(data, cfg.bench.eval_share, cfg.bench.seed)
    evalset = eval_sets(split, pq.read_table(out / "enriched" / OUTPUT), cfg.eval)[0]["product"]
    progress.ENABLED = False  # a report, not an interactive run
    system = model_system(load_bundle(bundle))
    scorer = DenseScorer(system.query_vectors(evalset), system.entity_vectors(evalset))  # (N, D), (U, D)
    corpus, positives, k = evalset.corpus, evalset.positives, cfg.eval.k
    ranks = positive_ranks(scorer, positives, corpus)[:, 0]  # (N,) the protocol's own ranking
    hits = ranks <= k

    judged: dict[str, set[str]] = {}
    for query, product in zip(
        split.heldout.column("query_text").to_pylist(), split.heldout.column("product_id").to_pylist()
    ):
        judged.setdefault(query, set()).add(product)
    ids = evalset.entity_ids
    at = {entity: i for i, entity in enumerate(ids)}
    in_corpus = np.zeros(len(ids), bool)
    in_corpus[corpus] = True
    words = [set(normalize(t or "").split()) for t in evalset.entities.column("title").to_pylist()]
    texts = evalset.queries
    judged_top = near_top = either = filtered = 0
    for i in range(len(hits)):
        others = [at[e] for e in judged[texts[i]] if e in at and at[e] != positives[i]]
        others = np.asarray(
            [j for j in others if in_corpus[j]], np.int64
        )  # (o,) judged positives in the corpus
        positive_score = scorer.scores(np.array([i]), positives[i : i + 1])[0, 0]
        above = int((scorer.scores(np.array([i]), others)[0] >= positive_score).sum()) if len(others) else 0
        filtered += ranks[i] - above <= k
        if hits[i]:
            continue
        row = scorer.scores(np.array([i]), corpus)[0]  # (M,)
        row[corpus == positives[i]] = -np.inf  # the positive is not its own competitor
        top = corpus[np.argpartition(-row, k)[:k]]  # the top k, in any order
        has_judged = bool(np.isin(top, others).any())
        own = words[positives[i]]
        has_near = any(len(own & words[j]) / max(1, len(own | words[j])) >= args.jaccard for j in top)
        judged_top += has_judged
        near_top += has_near
        either += has_judged or has_near
    misses = int((~hits).sum())
    print(f"{args.variant}: Recall@{k} {hits.mean():.3f} on {len(hits):,} pairs, {misses:,} misses")
    print(
        f"  misses whose top {k} holds another judged-relevant product of the query: {judged_top / misses:.3f}"
    )
    print(f"  ... a title with word Jaccard >= {args.jaccard} to the positive's: {near_top / misses:.3f}")
    print(f"  ... either: {either / misses:.3f}")
    print(f"Recall@{k} with the query's other judged positives out of the corpus: {filtered / len(hits):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
