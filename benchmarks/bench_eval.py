"""Evaluation throughput: ranking held-out pairs against random corpora up to 1M entities in bounded memory.

    .venv/bin/python benchmarks/bench_eval.py [--corpus 1000000] [--pairs 2000] [--dim 256]

Prints, per corpus size: seconds to rank every pair (chunked matrix products), pairs x corpus items scored
per second, and the peak resident memory of the process; then BM25 scoring and the bootstrap's cost.
The embeddings are random unit vectors (the ranking cost does not depend on what they encode).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pyarrow as pa

from omnisage.eval.metrics import DenseScorer, positive_ranks, recall_with_ci


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def bench_dense(pairs: int, corpus: int, dim: int, chunk: int) -> None:
    rng = np.random.default_rng(0)
    entities = unit(rng, corpus + pairs, dim)  # (U, D): the corpus, then one positive per pair
    queries = entities[corpus:] + 3.0 * unit(rng, pairs, dim)  # cos ≈ 0.3 to their positives
    scorer = DenseScorer(queries, entities)
    before = peak_mib()
    start = time.perf_counter()
    ranks = positive_ranks(
        scorer,
        np.arange(corpus, corpus + pairs),
        rng.permutation(corpus),
        sizes=[s for s in (1_000, 10_000, 100_000, 1_000_000) if s <= corpus],
        corpus_chunk=chunk,
    )
    seconds = time.perf_counter() - start
    print(
        f"dense  corpus {corpus:>9,}  pairs {pairs:,}  dim {dim}: {seconds:7.2f} s  "
        f"{pairs * corpus / seconds / 1e6:8.1f} M scores/s  recall@10 {np.mean(ranks[:, -1] <= 10):.3f}  "
        f"peak RSS {peak_mib():,.0f} MiB (embeddings {entities.nbytes / 2**20:,.0f} MiB; "
        f"+{peak_mib() - before:,.0f} MiB while ranking)"
    )


def bench_bm25(pairs: int, corpus: int) -> None:
    from omnisage.eval.baselines import BM25System
    from omnisage.eval.protocol import EvalSet

    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(20_000)]
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    words = np.asarray(vocab, dtype=object)[rng.choice(len(vocab), size=(corpus + pairs, 12), p=zipf)]
    docs = [" ".join(row) for row in words]
    queries = [" ".join(d.split()[:3]) for d in docs[corpus:]]
    entities = pa.table({"title": docs})
    evalset = EvalSet(
        "pin",
        pa.table({"query_text": queries}),
        np.array([str(i) for i in range(corpus + pairs)], dtype=object),
        np.arange(corpus, corpus + pairs),
        rng.permutation(corpus),
        entities=entities,
    )
    start = time.perf_counter()
    scorer = BM25System(("title",)).scorer(evalset)
    indexed = time.perf_counter() - start
    ranks = positive_ranks(scorer, evalset.positives, evalset.corpus)
    seconds = time.perf_counter() - start - indexed
    print(
        f"bm25   corpus {corpus:>9,}  pairs {pairs:,}: index {indexed:.1f} s, rank {seconds:.1f} s "
        f"({pairs / seconds:,.0f} queries/s)  recall@10 {np.mean(ranks[:, -1] <= 10):.3f}"
    )


def bench_bootstrap(pairs: int) -> None:
    ranks = np.random.default_rng(2).integers(1, 40, size=pairs)
    start = time.perf_counter()
    _, lo, hi = recall_with_ci(ranks, n_boot=1000)
    print(
        f"bootstrap  {pairs:,} pairs x 1000 resamples: {time.perf_counter() - start:.2f} s ({lo:.3f}-{hi:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=16384)
    parser.add_argument("--bm25-corpus", type=int, default=100_000)
    args = parser.parse_args()
    for corpus in sorted({min(c, args.corpus) for c in (100_000, args.corpus)}):
        bench_dense(args.pairs, corpus, args.dim, args.chunk)
    bench_bm25(min(args.pairs, 500), args.bm25_corpus)
    bench_bootstrap(20_000)


if __name__ == "__main__":
    main()
