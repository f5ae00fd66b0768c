"""HNSW vs exact search: build time, single-query latency and recall@10 across ef_search.

Vectors come from `omnisage embed` output (--embeddings DIR --type pin) or, without it, clustered unit
vectors (topics + noise, like trained embeddings). Probes are query embeddings when present.

  python benchmarks/bench_index.py --n 100000 --dim 256
  python benchmarks/bench_index.py --embeddings demo_out/embeddings --type pin
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnisage.index.catalog import recall_at_k, unit_rows
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    return unit_rows(centers[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim)))


def per_query_ms(index, probes: np.ndarray, k: int) -> float:
    start = time.perf_counter()
    for p in probes:
        index.search(p[None], k)
    return (time.perf_counter() - start) / len(probes) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embeddings", help="omnisage embed output folder")
    parser.add_argument("--type", default="pin", help="entity type to index from --embeddings")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads")
    args = parser.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    if args.embeddings:
        from omnisage.infer.embed import load_embeddings

        ids, vectors, _ = load_embeddings(args.embeddings, args.type)
        queries = load_embeddings(args.embeddings, "query")
        pool = queries[1] if queries is not None else vectors
        probes = pool[np.random.default_rng(0).permutation(len(pool))[: args.probes]]
        source = f"{args.embeddings} ({args.type})"
    else:
        vectors = clustered(args.n, args.dim, 200, seed=0)
        ids = np.arange(len(vectors)).astype(str)
        probes = clustered(args.probes, args.dim, 200, seed=1)
        source = "clustered synthetic vectors"
    exact = ExactIndex(ids, vectors)
    _, truth = exact.search(probes, args.k)
    start = time.perf_counter()
    hnsw = HnswIndex.build(ids, vectors, args.m, args.ef_construction)
    build_s = time.perf_counter() - start

    print(
        f"\n{len(vectors):,} × {vectors.shape[1]} from {source}; {len(probes)} probes; "
        f"HNSW M={args.m}, efConstruction={args.ef_construction}, built in {build_s:.1f} s; "
        f"{args.threads} thread(s)\n"
    )
    print(f"| index | ef_search | recall@{args.k} | ms / query (batch 1) |")
    print("|---|---:|---:|---:|")
    print(f"| exact | – | 1.000 | {per_query_ms(exact, probes[:100], args.k):.3f} |")
    for ef in (16, 32, 64, 128, 256):
        hnsw.ef_search = ef
        _, got = hnsw.search(probes, args.k)
        print(f"| hnsw | {ef} | {recall_at_k(got, truth):.3f} | {per_query_ms(hnsw, probes, args.k):.3f} |")


if __name__ == "__main__":
    main()
