"""Relevance-teacher throughput on Home Depot text: training and scoring pairs/s per max_tokens, and (`--quality`)
a sanity run: train one pass on some queries' pairs, RMSE on other queries' pairs against predicting the mean.

Item texts are the teacher's own (`item_texts` of the Home Depot products: titles only). Training pairs/s is
over a whole `train_teacher` call's steps (its final checkpoint included); scoring pairs/s over `Teacher.predict`.
Pairs per CPU-second (all threads' CPU time; training's includes loading the encoder) is steadier than wall time
on a machine that others share.

  OMP_NUM_THREADS=2 python benchmarks/bench_teacher.py --threads 2 --max-tokens 128,64
  python benchmarks/bench_teacher.py --threads 2 --precision fp32,auto --buckets 1,16 --max-tokens 128
  python benchmarks/bench_teacher.py --threads 2 --quality-only --train-pairs 3000 --eval-pairs 1000 --lr 1e-4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisage.config import RelevanceConfig
from omnisage.data.homedepot import read_homedepot
from omnisage.data.scale import HOMEDEPOT
from omnisage.relevance import teacher as teacher_module
from omnisage.relevance.itemtext import item_texts
from omnisage.relevance.teacher import load_teacher, train_teacher


def homedepot_pairs(path: str, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Every judged pair as (query_text, item_text, label), and each pair's query index in a seeded order."""
    data = read_homedepot(path)
    products = data.products
    text_of = dict(zip(products["product_id"].to_pylist(), item_texts(products), strict=True))
    judged = data.judgments
    pairs = pa.table(
        {
            "query_text": judged["query_text"],
            "item_text": [text_of[p] for p in judged["product_id"].to_pylist()],
            "label": judged["relevance"].cast(pa.float64()),
        }
    )
    queries = sorted(set(judged["query_text"].to_pylist()))
    rank = {q: i for i, q in enumerate(np.random.default_rng(seed).permutation(queries))}
    return pairs, np.array([rank[q] for q in judged["query_text"].to_pylist()])


def split_by_query(
    pairs: pa.Table, query_rank: np.ndarray, n_train: int, n_eval: int
) -> tuple[pa.Table, pa.Table]:
    """The pairs of the first queries (in the seeded order) until n_train pairs, then of the next until n_eval."""
    order = np.argsort(query_rank, kind="stable")
    cut = query_rank[order]
    train_end = int(np.searchsorted(cut, cut[min(n_train, len(cut) - 1)], side="left"))
    eval_end = int(np.searchsorted(cut, cut[min(train_end + n_eval, len(cut) - 1)], side="left"))
    return pairs.take(order[:train_end]), pairs.take(order[train_end:eval_end])


def throughput(
    pairs: pa.Table, args: argparse.Namespace, max_tokens: int, precision: str, buckets: int
) -> str:
    teacher_module.BUCKET_BATCHES = buckets
    cfg = RelevanceConfig(teacher_max_tokens=max_tokens, teacher_batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        out = train_teacher(
            pairs.slice(0, args.pairs),
            HOMEDEPOT,
            Path(tmp) / "t",
            cfg,
            progress=False,
            log=lambda _: None,
            precision=precision,
        )
        train_cpu = args.pairs / (time.process_time() - cpu)
        summary = json.loads((out / "teacher.json").read_text())["training"]
        teacher = load_teacher(out)
        if precision == "fp32":
            teacher.amp = None
        scored = pairs.slice(args.pairs, args.score_pairs)
        start, cpu = time.perf_counter(), time.process_time()
        teacher.predict(scored["query_text"].to_pylist(), scored["item_text"].to_pylist(), batch_size=64)
        score_rate = scored.num_rows / (time.perf_counter() - start)
        score_cpu = scored.num_rows / (time.process_time() - cpu)
    return (
        f"| {max_tokens} | {summary['precision']} | {buckets} | {summary['pairs_per_second']:,.1f} | "
        f"{train_cpu:,.1f} | {score_rate:,.1f} | {score_cpu:,.1f} |"
    )


def quality(pairs: pa.Table, query_rank: np.ndarray, args: argparse.Namespace) -> None:
    train, held = split_by_query(pairs, query_rank, args.train_pairs, args.eval_pairs)
    cfg = RelevanceConfig(
        teacher_max_tokens=args.quality_max_tokens,
        teacher_batch_size=args.batch_size,
        teacher_lr=args.lr,
        teacher_epochs=args.epochs,
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = train_teacher(train, HOMEDEPOT, Path(tmp) / "t", cfg, progress=True, pooling=args.pooling)
        seconds = time.perf_counter() - start
        scores = load_teacher(out).predict(held["query_text"].to_pylist(), held["item_text"].to_pylist())
    labels, train_labels = held["label"].to_numpy(), train["label"].to_numpy()
    rmse = float(np.sqrt(np.mean((scores.score - labels) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((train_labels.mean() - labels) ** 2)))
    print(
        f"\nquality: trained on {train.num_rows:,} pairs ({len(set(train['query_text'].to_pylist())):,} queries, "
        f"{args.epochs:g} pass(es) at lr {args.lr:g}, {seconds:.0f} s, max_tokens {args.quality_max_tokens}, {args.pooling} pooling); "
        f"held-out {held.num_rows:,} pairs of other queries"
    )
    print("| predictor | RMSE |\n|---|---:|")
    print(f"| training mean ({train_labels.mean():.3f}) | {mean_rmse:.4f} |\n| teacher | {rmse:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homedepot", default="../shared/data/homedepot/train.csv")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--max-tokens", default="128,64")
    parser.add_argument(
        "--precision", default="auto", help="auto (bf16 where native), fp32, or both: fp32,auto"
    )
    parser.add_argument("--buckets", default="16", help="batches per length bucket; 1 = no bucketing")
    parser.add_argument("--pairs", type=int, default=384, help="training pairs per throughput run")
    parser.add_argument("--score-pairs", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quality", action="store_true", help="also the train-then-held-out RMSE sanity run")
    parser.add_argument(
        "--quality-only", action="store_true", help="the sanity run without the throughput grid"
    )
    parser.add_argument("--train-pairs", type=int, default=3000)
    parser.add_argument("--eval-pairs", type=int, default=1000)
    parser.add_argument("--quality-max-tokens", type=int, default=64)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--lr", type=float, default=RelevanceConfig.teacher_lr)
    parser.add_argument("--epochs", type=float, default=RelevanceConfig.teacher_epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    pairs, query_rank = homedepot_pairs(args.homedepot, args.seed)
    shuffled = pairs.take(np.random.default_rng(args.seed).permutation(pairs.num_rows))
    print(
        f"\nMiniLM teacher on Home Depot pairs, {args.threads} torch threads, batch {args.batch_size}, "
        f"load average before {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| max_tokens | precision | buckets | train pairs/s | train pairs/CPU-s | score pairs/s | score pairs/CPU-s |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for max_tokens in [] if args.quality_only else (int(t) for t in args.max_tokens.split(",")):
        for precision in args.precision.split(","):
            for buckets in (int(b) for b in args.buckets.split(",")):
                print(throughput(shuffled, args, max_tokens, precision, buckets), flush=True)
    if args.quality or args.quality_only:
        quality(pairs, query_rank, args)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
