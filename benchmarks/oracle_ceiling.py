"""What Recall@k a perfect content model could reach on a synthetic world: the ceiling the ablation tables live
under, and a check that the world rewards content rather than popularity alone.

    .venv/bin/python benchmarks/oracle_ceiling.py --data bench_out/world20k --enriched bench_out/enriched20k

The held-out pairs and random corpora are the evaluation protocol's own (`config.eval`, same seed), so the
numbers sit beside `omnisage ablate`'s. Two oracles read the world's ground truth (`truth/`), which no model
sees. Both score an item by whether its primary or secondary leaf is the query's leaf (or its sub is the
query's sub, for sub-level queries), plus one per attribute the query names that the item carries:

- `latent`: only that score, with ties broken at random (the expected recall is reported);
- `latent + popularity`: ties broken by the item's true popularity, the engagement propensity the log
  generator draws matching items with.

The gap between the two is how much of the task is popularity among equally relevant items: content features
cannot close it, only signals that track engagement (board saves, engaged queries) can.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import load_config
from omnisage.eval.protocol import load_eval_sets
from omnisage.eval.run import load_entities


def expected_recall(score: np.ndarray, positive: int, corpus: np.ndarray, k: int) -> float:
    """P(rank <= k) with ties broken uniformly at random; the positive itself is not in `corpus`."""
    s = score[corpus]
    above = int(np.sum(s > score[positive]))
    tied = int(np.sum(s == score[positive]))
    return float(np.clip((k - above) / (tied + 1), 0.0, 1.0))


def oracle(data: Path, enriched: Path | None, preset: str, k: int) -> None:
    truth = data / "truth"
    if not (truth / "entity_interests.parquet").is_file():
        raise SystemExit(f"{truth}: no entity_interests.parquet (only synthetic worlds carry their truth)")
    cfg = load_config(preset).eval
    sets, _ = load_eval_sets(data, load_entities(data, enriched), cfg, tasks=("pin", "product"))
    ent = pq.read_table(truth / "entity_interests.parquet")
    queries = pq.read_table(truth / "query_interests.parquet").to_pylist()
    query_at = {q["query_text"]: q for q in queries}
    print(f"Recall@{k} ceilings ({data}), all pairs and new / repeat pairs:")
    print("| task | pairs | corpus | latent | latent + popularity | latent, new / repeat |")
    print("|---|---|---|---|---|---|")
    for task, es in sets.items():
        of_type = ent.filter(pc.equal(ent.column("entity_type"), task))
        at = pc.index_in(pa.array(es.entity_ids), value_set=of_type.column("entity_id")).to_numpy(
            zero_copy_only=False
        )
        rows = of_type.take(pa.array(at))
        leaf, leaf2, sub = (rows.column(c).to_numpy() for c in ("leaf_id", "secondary_leaf_id", "sub_id"))
        attrs = [set(a) if a is not None else set() for a in rows.column("attributes").to_pylist()]
        # popularity as a tie-break below one attribute's worth of score
        tiebreak = np.argsort(np.argsort(rows.column("popularity").to_numpy())) / (len(attrs) + 1.0)
        plain, popular = [], []
        for query, positive in zip(es.queries, es.positives.tolist(), strict=True):
            q = query_at[query]
            if q["level"] == "leaf":
                match = (leaf == q["leaf_id"]) | (leaf2 == q["leaf_id"])
            else:
                match = sub == q["sub_id"]
            wanted = set(q["attributes"] or ())
            score = match * (1.0 + np.array([len(wanted & a) for a in attrs], dtype=np.float64))
            plain.append(expected_recall(score, positive, es.corpus, k))
            popular.append(expected_recall(score + tiebreak, positive, es.corpus, k))
        new = np.asarray(es.pairs.column("pair").to_pylist()) == "new"
        plain_ = np.asarray(plain)
        print(
            f"| {task} | {len(plain)} | {len(es.corpus)} | {plain_.mean():.3f} | {np.mean(popular):.3f} "
            f"| {plain_[new].mean():.3f} / {plain_[~new].mean():.3f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a synthetic world (`omnisage synth`)")
    ap.add_argument("--enriched", type=Path, help="its `omnisage enrich` output (default: the one in --data)")
    ap.add_argument("--config", default="default", help="preset whose eval settings pick the pairs")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    oracle(args.data, args.enriched, args.config, args.k)


if __name__ == "__main__":
    main()
