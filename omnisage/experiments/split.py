"""Held-out queries for the real-data benchmark: split, then evaluation sets.

Relevance judgments have no meaningful time, so the split is by query, seeded: a share of the queries with an
engaged product is held out, and nothing of theirs (pairs, engaged queries, query→query pairs) reaches
training. Or a separate test file is the held-out side, minus the queries training has seen. The held-out
engaged pairs then go through the evaluation protocol's own `build_eval_set`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.config import EvalConfig
from omnisage.data.judgments import (
    RelevanceSet,
    product_engagements,
    queries_table,
    query_pairs,
)
from omnisage.errors import DataError
from omnisage.eval.protocol import EvalSet, Windows, build_eval_set


@dataclass
class BenchSplit:
    """Training judgments (every label of the training queries) and the held-out engaged pairs."""

    training: RelevanceSet  # the catalog's products; judgments of training queries only
    heldout: pa.Table  # JUDGMENTS rows: engaged pairs of held-out queries
    queries: pa.Table  # QUERIES rows of every query, training and held-out (the query→query catalog)
    heldout_judged: pa.Table  # JUDGMENTS rows: every judged pair of the held-out queries (relevance labels)
    about: dict[str, int] = field(default_factory=dict)  # counts for the report

    @property
    def heldout_queries(self) -> pa.Array:
        return pc.unique(self.heldout.column("query_text"))


def _judged_by(judgments: pa.Table, queries: pa.Array, keep: bool) -> pa.Table:
    inside = pc.is_in(judgments.column("query_text"), value_set=queries)
    return judgments.filter(inside if keep else pc.invert(inside))


def split_by_query(data: RelevanceSet, share: float, seed: int) -> BenchSplit:
    """Hold out a seeded `share` of the queries that have an engaged product."""
    if not 0.0 < share < 1.0:
        raise DataError(f"bench.eval_share must be in (0, 1), got {share}")
    engaged = sorted(set(data.engaged().column("query_text").to_pylist()))
    if len(engaged) < 2:
        raise DataError("fewer than two queries with an engaged product: nothing to split", path=data.source)
    order = np.random.default_rng(seed).permutation(len(engaged))
    n_heldout = min(max(1, round(share * len(engaged))), len(engaged) - 1)
    heldout_queries = pa.array(sorted(engaged[i] for i in order[:n_heldout]), pa.string())
    heldout = _judged_by(data.engaged(), heldout_queries, keep=True)
    judged = _judged_by(data.judgments, heldout_queries, keep=True)
    training = _judged_by(data.judgments, heldout_queries, keep=False)
    about = {
        "queries_with_engagement": len(engaged),
        "heldout_queries": n_heldout,
        "heldout_pairs": heldout.num_rows,
        "training_judgments": training.num_rows,
        "training_engaged_pairs": int(pc.sum(training.column("engaged")).as_py() or 0),
    }
    return BenchSplit(
        dataclasses.replace(data, judgments=training), heldout, queries_table(data.judgments), judged, about
    )


def split_by_file(train: RelevanceSet, test: RelevanceSet) -> BenchSplit:
    """Train on all of `train`; hold out the engaged pairs of `test` whose query training never saw."""
    seen = pc.unique(train.judgments.column("query_text"))
    engaged = test.engaged()
    heldout = _judged_by(engaged, seen, keep=False)
    judged = _judged_by(test.judgments, seen, keep=False)
    known = set(train.products.column("product_id").to_pylist())
    new = [i for i, p in enumerate(test.products.column("product_id").to_pylist()) if p not in known]
    products = pa.concat_tables([train.products, test.products.take(pa.array(new, pa.int64()))])
    about = {
        "test_engaged_pairs": engaged.num_rows,
        "test_pairs_with_seen_query_dropped": engaged.num_rows - heldout.num_rows,
        "heldout_queries": len(pc.unique(heldout.column("query_text"))),
        "heldout_pairs": heldout.num_rows,
        "test_products_added_to_catalog": len(new),
        "training_judgments": train.judgments.num_rows,
        "training_engaged_pairs": train.engaged().num_rows,
    }
    if heldout.num_rows == 0:
        raise DataError("every engaged query of the test file also appears in training: nothing to evaluate")
    all_judgments = pa.concat_tables([train.judgments, heldout])
    training = dataclasses.replace(train, products=products)
    return BenchSplit(training, heldout, queries_table(all_judgments), judged, about)


def eval_sets(split: BenchSplit, entities: pa.Table, cfg: EvalConfig) -> tuple[dict[str, EvalSet], Windows]:
    """The product and query→query evaluation sets of the held-out queries, against random corpora.

    query→product: every held-out engaged pair. query→query: a held-out query and another query that shares
    an engaged product with it (the derived task), the catalog being every query. `entities` is the enriched
    product table built from training logs only.
    """
    products = product_engagements(split.heldout)
    everything = pa.concat_tables([product_engagements(split.training.judgments), products])
    related = query_pairs(everything)
    related = related.filter(pc.is_in(related.column("query_text"), value_set=split.heldout_queries))
    logs = pa.concat_tables([products, related])
    ts = logs.column("ts")
    start = pc.min(ts).as_py()
    windows = Windows(
        train_end=start, eval_start=start, eval_end=pc.max(ts).as_py() + timedelta(microseconds=1)
    )
    cfg = dataclasses.replace(cfg, pairs_per_action=max(cfg.pairs_per_action, logs.num_rows))
    sets = {}
    for task in ("product", "query"):
        evalset = build_eval_set(task, logs, split.queries, entities, cfg, windows)
        if evalset.pairs.num_rows:
            sets[task] = evalset
    return sets, windows
