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
    ent = pq.read_table(truth / "entity_interests.parquet").to_pandas()
    queries = pq.read_table(truth / "query_interests.parquet").to_pandas().set_index("query_text")
    print(f"Recall@{k} ceilings ({data}):")
    print("| task | pairs | corpus | latent | latent + popularity |")
    print("|---|---|---|---|---|")
    for task, es in sets.items():
        rows = ent[ent.entity_type == task].set_index("entity_id").loc[list(es.entity_ids)]
        leaf, leaf2, sub = rows.leaf_id.to_numpy(), rows.secondary_leaf_id.to_numpy(), rows.sub_id.to_numpy()
        attrs = [set(a) if a is not None else set() for a in rows.attributes]
        # popularity as a tie-break below one attribute's worth of score
        tiebreak = np.argsort(np.argsort(rows.popularity.to_numpy())) / (len(rows) + 1.0)
        plain, popular = [], []
        for query, positive in zip(es.queries, es.positives.tolist()):
            q = queries.loc[query]
            match = (leaf == q.leaf_id) | (leaf2 == q.leaf_id) if q.level == "leaf" else sub == q.sub_id
            wanted = set(q.attributes) if q.attributes is not None else set()
            score = match * (1.0 + np.array([len(wanted & a) for a in attrs], dtype=np.float64))
            plain.append(expected_recall(score, positive, es.corpus, k))
            popular.append(expected_recall(score + tiebreak, positive, es.corpus, k))
        print(f"| {task} | {len(plain)} | {len(es.corpus)} | {np.mean(plain):.3f} | {np.mean(popular):.3f} |")


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
