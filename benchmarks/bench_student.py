"""Latency of the relevance student in the serving path: one query, its N first-stage candidates, one thread.

A synthetic catalog (Zipf words: titles, descriptions, captions, engaged queries, board titles; D=256 unit vectors,
256-dim legacy vectors on 80% of the items) is built at each size; then for each query: the query side (tokenize,
look up), the (N, F) pair features, and the student's score, numpy forward and torch forward. Reports p50/p99 ms.

  python benchmarks/bench_student.py                       # catalogs of 20k and 100k items, N = 100 and 1000
  python benchmarks/bench_student.py --items 20000 --candidates 100 --queries 200
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, as a serving worker; before numpy and torch load
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time

import numpy as np
import pyarrow as pa

from omnisage.config import RelevanceConfig
from omnisage.data.scale import FIVE_LEVELS
from omnisage.relevance.features import FEATURES, ItemFeatures, _bm25_scores
from omnisage.relevance.student import StudentTargets, train_student
from omnisage.schema import ENRICHED_ENTITIES

VOCABULARY = 50_000


def _words(rng: np.random.Generator, vocab: np.ndarray, n: int) -> str:
    return " ".join(vocab[np.minimum(rng.zipf(1.2, n), len(vocab)) - 1])


def catalog(n: int, dim: int, seed: int = 0) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """(enriched rows, (n, dim) unit item vectors, the vocabulary)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(VOCABULARY)], dtype=object)
    rows = []
    for i in range(n):
        n_queries = int(rng.integers(0, 21))
        rows.append(
            {
                "entity_type": "product" if i % 2 else "pin",
                "entity_id": str(i),
                "title": _words(rng, vocab, int(rng.integers(5, 13))),
                "description": _words(rng, vocab, int(rng.integers(20, 61))),
                "caption": _words(rng, vocab, int(rng.integers(8, 16))),
                "brand": _words(rng, vocab, 1),
                "board_titles": [_words(rng, vocab, 3) for _ in range(int(rng.integers(0, 11)))],
                "engaged_queries": [_words(rng, vocab, int(rng.integers(1, 5))) for _ in range(n_queries)],
                "engaged_query_scores": rng.exponential(2.0, n_queries).astype(np.float32).tolist(),
                "legacy_vector": rng.normal(size=256).astype(np.float32).tolist()
                if rng.random() < 0.8
                else None,
            }
        )
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return pa.Table.from_pylist(rows, schema=ENRICHED_ENTITIES), vectors, vocab


def _ms(samples: list[float]) -> str:
    return f"{np.percentile(samples, 50) * 1e3:.2f} / {np.percentile(samples, 99) * 1e3:.2f}"


def bench(items: int, candidates: list[int], n_queries: int, dim: int) -> None:
    import torch

    torch.set_num_threads(1)
    table, vectors, vocab = catalog(items, dim)
    start = time.perf_counter()
    features = ItemFeatures.build(table, vectors)
    print(
        f"\ncatalog of {items:,} items: ItemFeatures.build {time.perf_counter() - start:.1f} s, F = {len(FEATURES)}"
    )
    rng = np.random.default_rng(1)
    sample = rng.normal(size=(2000, len(FEATURES))).astype(np.float32)
    student = train_student(
        sample,
        StudentTargets(rng.uniform(1, 5, 2000)),
        FIVE_LEVELS,
        RelevanceConfig(student_epochs=1),
        log=lambda _: None,
    )
    net = student.torch_module()
    print("| N | query side | BM25 (both) | pair features | student numpy | student torch | total (numpy) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in candidates:
        times: dict[str, list[float]] = {
            k: [] for k in ("side", "bm25", "features", "numpy", "torch", "total")
        }
        for _ in range(n_queries):
            text = _words(rng, vocab, int(rng.integers(2, 5)))
            q = rng.normal(size=dim).astype(np.float32)
            q /= np.linalg.norm(q)
            rows = rng.choice(items, n, replace=False)
            t0 = time.perf_counter()
            side = features.query_side(text, q, q[:256] / np.linalg.norm(q[:256]))
            t1 = time.perf_counter()
            x = features.pair_features(side, rows)
            t2 = time.perf_counter()
            student.predict(x)
            t3 = time.perf_counter()
            with torch.inference_mode():
                net(torch.from_numpy(student.standardize(x)))
            t4 = time.perf_counter()
            _bm25_scores(features.bm25_text, side.text_ids, rows)
            _bm25_scores(features.bm25_engaged, side.engaged_ids, rows)
            t5 = time.perf_counter()
            for key, value in zip(times, (t1 - t0, t5 - t4, t2 - t1, t3 - t2, t4 - t3, t3 - t0)):
                times[key].append(value)
        print(f"| {n} | " + " | ".join(_ms(times[k]) for k in times) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--queries", type=int, default=300, help="timed queries per setting")
    parser.add_argument("--dim", type=int, default=256)
    args = parser.parse_args()
    print("p50 / p99 ms per query, one thread")
    for items in args.items:
        bench(items, args.candidates, args.queries, args.dim)


if __name__ == "__main__":
    main()
