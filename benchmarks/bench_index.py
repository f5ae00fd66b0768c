"""HNSW vs IVF-PQ vs exact search: recall@10, bytes per vector, build time, latency and QPS per core.

Vectors come from `omnisage embed` output (--embeddings DIR --type pin) or, without it, clustered unit
vectors (topics + noise, like trained embeddings). Probes are query embeddings when present. RAM bytes are
each index's FAISS serialization (HNSW: vectors + graph; IVF-PQ: codes + list ids + centroids + codebooks)
per vector; IVF-PQ's float16 re-ranking vectors are on disk, memory-mapped, and counted as disk bytes.
Times are CPU seconds of this one-thread process, so a shared machine's queueing does not count: what a query
costs one core.

  python benchmarks/bench_index.py --n 200000 --dim 256
  python benchmarks/bench_index.py --embeddings demo_out/embeddings --type pin
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import numpy as np

from omnisage.index.catalog import recall_at_k, unit_rows
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex
from omnisage.index.ivfpq import IvfPqIndex


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    return unit_rows(centers[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim)))


def per_query_ms(index: Any, probes: np.ndarray, k: int) -> float:
    start = time.process_time()
    for p in probes:
        index.search(p[None], k)
    return (time.process_time() - start) / len(probes) * 1000


def batch_qps(index: Any, probes: np.ndarray, k: int, batch: int = 64) -> float:
    start = time.process_time()
    for i in range(0, len(probes), batch):
        index.search(probes[i : i + batch], k)
    return len(probes) / (time.process_time() - start)


def timed(build: Any) -> tuple[Any, float]:
    start = time.process_time()
    index = build()
    return index, time.process_time() - start


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    if not args.embeddings:
        vectors = clustered(args.n, args.dim, 200, seed=0)
        probes = clustered(args.probes, args.dim, 200, seed=1)
        return np.arange(len(vectors)).astype(str), vectors, probes, "clustered synthetic vectors"
    from omnisage.infer.embed import load_embeddings

    ids, vectors, _ = load_embeddings(args.embeddings, args.type)
    queries = load_embeddings(args.embeddings, "query")
    pool = queries[1] if queries is not None else vectors
    probes = pool[np.random.default_rng(0).permutation(len(pool))[: args.probes]]
    return ids, vectors, probes, f"{args.embeddings} ({args.type})"


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
    parser.add_argument("--refine", type=int, default=10, help="IVF-PQ re-ranks refine·k candidates")
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads")
    args = parser.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    ids, vectors, probes, source = load_vectors(args)
    n, dim = vectors.shape
    exact = ExactIndex(ids, vectors)
    _, truth = exact.search(probes, args.k)
    hnsw, hnsw_s = timed(lambda: HnswIndex.build(ids, vectors, args.m, args.ef_construction))
    ivfpq, ivfpq_s = timed(lambda: IvfPqIndex.build(ids, vectors, refine=args.refine))
    hnsw_ram = faiss.serialize_index(hnsw.index).size / n
    ivfpq_ram = ivfpq.resident_bytes() / n
    folder = tempfile.TemporaryDirectory()
    ivfpq.save(folder.name)
    ivfpq = IvfPqIndex.load(folder.name)  # as served: float16 vectors memory-mapped

    print(
        f"\n{n:,} × {dim} from {source}; {len(probes)} probes; {args.threads} thread(s); "
        f"HNSW M={args.m}, efConstruction={args.ef_construction}; IVF-PQ nlist={ivfpq.nlist}, "
        f"{ivfpq.index.pq.M} × {ivfpq.index.pq.nbits}-bit codes, refine {args.refine}·k\n"
    )
    print(
        f"| index | setting | recall@{args.k} | RAM B / vector | disk B / vector | build CPU s "
        "| CPU ms / query (batch 1) | QPS / core (batch 64) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")

    def row(name: str, setting: str, index: Any, ram: float, disk: float, build_s: float) -> None:
        recall = recall_at_k(index.search(probes, args.k)[1], truth)
        ms, qps = per_query_ms(index, probes, args.k), batch_qps(index, probes, args.k)
        print(
            f"| {name} | {setting} | {recall:.3f} | {ram:,.0f} | {disk:,.0f} | {build_s:.1f} "
            f"| {ms:.3f} | {qps:,.0f} |"
        )

    row("exact", "–", exact, 4 * dim, 0, 0.0)
    for ef in (64, 128, 256, 512, 1024):
        hnsw.ef_search = ef
        row("hnsw", f"ef_search {ef}", hnsw, hnsw_ram, 0, hnsw_s)
    for nprobe in (16, 32, 64, 128, 256):
        ivfpq.nprobe = nprobe
        row("ivfpq", f"nprobe {nprobe}", ivfpq, ivfpq_ram, 2 * dim, ivfpq_s)
    folder.cleanup()


if __name__ == "__main__":
    main()
