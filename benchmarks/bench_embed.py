"""Batch-inference throughput (`omnisage embed`): entities/s and queries/s per encoder batch size, peak memory.

python benchmarks/bench_embed.py --model runs/model --enriched demo_out/enriched --queries demo_out/world
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from omnisage.config import InferConfig
from omnisage.infer.embed import embed_all, resolve_input
from omnisage.model.bundle import load_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--enriched", required=True, help="enriched_entities.parquet or its folder")
    parser.add_argument("--queries", help="queries table or a data directory holding one")
    parser.add_argument("--batch-sizes", default="128,512,2048")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    enriched = resolve_input(args.enriched, "enriched_entities")
    queries = resolve_input(args.queries, "queries")
    print(f"\nbatch inference with model {model.version}, {args.threads} torch threads\n")
    print("| batch size | entities/s | queries/s |")
    print("|---:|---:|---:|")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        rates = []
        for stream, path in (("entities", enriched), ("queries", queries)):
            if path is None:
                rates.append("–")
                continue
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                kwargs = {"entities": path} if stream == "entities" else {"queries": path}
                report = embed_all(model, out, InferConfig(batch_size=batch), **kwargs)
                rates.append(f"{report.rows / (time.perf_counter() - start):,.0f}")
        print(f"| {batch} | {rates[0]} | {rates[1]} |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory {peak_mb:,.0f} MB (model + one part of vectors + one batch)")


if __name__ == "__main__":
    main()
