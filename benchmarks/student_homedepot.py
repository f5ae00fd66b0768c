"""Which inputs the relevance student should read, measured on Home Depot's human labels (no teacher: gold only).

Products are their titles; "our" vectors are zero-shot all-MiniLM-L6-v2 (mean pooling) on both sides, cached. A
seeded 20% of the queries is held out. Variants: the cosine alone, the student's features (`FEATURES`), and the
features plus the elementwise product q * e, raw (D = 384) or projected on its 32 principal directions (fitted on
the training pairs). Each trains a student (MSE on the 1-3 scale) and is scored by `relevance_report`.

  python benchmarks/student_homedepot.py --data PATH/TO/homedepot/train.csv   # or $OMNISAGE_HOMEDEPOT_CSV
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from omnisage.config import RelevanceConfig
from omnisage.data.scale import HOMEDEPOT
from omnisage.relevance.features import FEATURES, ItemFeatures
from omnisage.relevance.metrics import relevance_report
from omnisage.relevance.student import StudentTargets, train_student


def _vectors(cache: Path, titles: list[str], queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    if not cache.is_file():
        from omnisage.eval.baselines import MeanPoolEncoder

        encoder = MeanPoolEncoder(None, max_tokens=64, batch_size=256)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, items=encoder(titles), queries=encoder(queries))
    stored = np.load(cache)
    return stored["items"], stored["queries"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("OMNISAGE_HOMEDEPOT_CSV"), help="Home Depot train.csv"
    )
    parser.add_argument("--cache", default=".omnisage-cache/student_homedepot_minilm.npz")
    parser.add_argument("--epochs", type=int, default=RelevanceConfig.student_epochs)
    parser.add_argument("--hidden", type=int, default=RelevanceConfig.student_hidden)
    parser.add_argument("--variants", default="cosine,features,features+qe_pca32,features+qe")
    args = parser.parse_args()
    if not args.data:
        parser.error("--data or $OMNISAGE_HOMEDEPOT_CSV is required")
    csv = pcsv.read_csv(args.data).to_pydict()
    uids, queries = csv["product_uid"], csv["search_term"]
    labels = np.array(csv["relevance"], np.float64)
    title_of = dict(zip(uids, csv["product_title"]))
    products, distinct_queries = sorted(title_of), sorted(set(queries))
    item_vectors, query_vectors = _vectors(
        Path(args.cache), [title_of[u] for u in products], distinct_queries
    )
    table = pa.table({"entity_type": ["product"] * len(products), "entity_id": [str(u) for u in products],
                      "title": [title_of[u] for u in products]})  # fmt: skip
    items = ItemFeatures.build(table, item_vectors)
    rows = items.rows(["product"] * len(uids), [str(u) for u in uids])
    q_index = np.searchsorted(np.array(distinct_queries, dtype=object), np.array(queries, dtype=object))
    start = time.perf_counter()
    x = items.batch_features(queries, query_vectors[q_index], rows)
    print(f"{len(x):,} pairs, features in {time.perf_counter() - start:.1f} s")
    product = query_vectors[q_index] * item_vectors[rows]  # (n, D) q * e
    rng = np.random.default_rng(0)
    held_out = rng.permutation(len(distinct_queries))[: len(distinct_queries) // 5]
    test = np.isin(q_index, held_out)
    train = ~test
    mean = product[train].mean(axis=0)
    sample = rng.permutation(int(train.sum()))[:20_000]
    directions = np.linalg.svd(product[train][sample] - mean, full_matrices=False)[2][:32]  # (32, D)
    inputs = {
        "cosine": x[:, :1],
        "features": x,
        "features+qe_pca32": np.hstack([x, (product - mean) @ directions.T]),
        "features+qe": np.hstack([x, product]),
    }
    cfg = RelevanceConfig(student_epochs=args.epochs, student_hidden=args.hidden)
    preds = {"train mean": np.full(int(test.sum()), labels[train].mean())}
    for name in args.variants.split(","):
        data = inputs[name]
        student = train_student(
            data[train], StudentTargets(labels[train]), HOMEDEPOT, cfg, log=lambda _: None
        )
        preds[name] = student.predict(data[test])
    print(f"{int(train.sum()):,} training pairs, {int(test.sum()):,} held-out pairs; F = {len(FEATURES)}")
    report = relevance_report(preds, labels[test], np.asarray(queries, dtype=object)[test], HOMEDEPOT)
    print("| system | RMSE | accuracy | nDCG@10 |\n|---|---|---|---|")
    for name, metrics in report.items():
        cells = [f"{m.value:.4f} [{m.low:.4f}, {m.high:.4f}]" for m in metrics.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
