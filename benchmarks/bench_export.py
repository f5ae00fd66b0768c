"""The exported query encoder: latency at batch 1 and what ONNX / int8 do to the embedding and to recall.

Encoders compared: the bundle's PyTorch query encoder (reference), ONNX Runtime fp32, ONNX Runtime int8
(dynamic quantization). Reported: p50 ms per single query (tokenization included) per thread count;
cosine to the reference over the world's queries; top-10 agreement of pin retrieval with the reference;
and the Recall@10 on held-out pairs (the `omnisage evaluate` protocol) with each query encoder.

  python benchmarks/bench_export.py --model runs/model --world demo_out/world \
      --enriched demo_out/enriched/enriched_entities.parquet
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import EvalConfig
from omnisage.data.io import find_table, read_table
from omnisage.eval.evaluate import evaluate_systems
from omnisage.eval.protocol import load_eval_sets
from omnisage.eval.systems import EmbeddingSystem
from omnisage.index.exact import ExactIndex
from omnisage.infer.export import OnnxQueryEncoder, ensure_exported
from omnisage.model.bundle import load_model
from omnisage.schema import QUERIES


def p50_ms(encode, queries: list[str]) -> float:
    encode(queries[:5])  # warm-up
    times = []
    for q in queries:
        start = time.perf_counter()
        encode([q])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--world", required=True, help="data directory (queries, engagements)")
    parser.add_argument(
        "--enriched", help="enriched_entities.parquet: adds pins' top-10 agreement and Recall@10"
    )
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts to time")
    parser.add_argument("--latency-queries", type=int, default=200)
    args = parser.parse_args()

    import torch

    model = load_model(args.model)
    folder = ensure_exported(model, args.model, int8=True)
    queries = read_table(find_table(args.world, "queries"), QUERIES).column("query_text").to_pylist()
    sample = queries[: args.latency_queries]
    threads = [int(t) for t in args.threads.split(",")]

    latency: dict[str, dict[int, float]] = {"pytorch fp32": {}, "onnx fp32": {}, "onnx int8": {}}
    encoders = {}
    for t in threads:
        torch.set_num_threads(t)
        latency["pytorch fp32"][t] = p50_ms(model.encode_queries, sample)
        for name, int8 in (("onnx fp32", False), ("onnx int8", True)):
            encoders[name] = OnnxQueryEncoder(folder, int8=int8, threads=t)
            latency[name][t] = p50_ms(encoders[name].encode_queries, sample)
    torch.set_num_threads(max(threads))

    reference = model.encode_queries(queries)  # (Q, D)
    vectors = {"pytorch fp32": reference} | {n: e.encode_queries(queries) for n, e in encoders.items()}
    entities = pq.read_table(args.enriched) if args.enriched else None
    agreement: dict[str, float] = {}
    if entities is not None:
        pins = entities.filter(pc.equal(entities.column("entity_type"), "pin"))
        index = ExactIndex(np.asarray(pins.column("entity_id").to_pylist()), model.encode_entities(pins))
        _, want = index.search(reference, 10)
        for name, v in vectors.items():
            _, got = index.search(v, 10)
            agreement[name] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)]))

    recall: dict[str, dict[str, float]] = {}
    if entities is not None:
        sets, windows = load_eval_sets(args.world, entities, EvalConfig())
        systems = [
            EmbeddingSystem(name, encode, model.encode_entities)
            for name, encode in [("pytorch fp32", model.encode_queries)]
            + [(n, e.encode_queries) for n, e in encoders.items()]
        ]
        ev = evaluate_systems(systems, sets, windows, EvalConfig())
        recall = {
            s: {task: float(np.mean(r[:, -1] <= 10)) for task, r in per.items()}
            for s, per in ev.ranks.items()
        }

    print(f"\nquery encoder of {args.model} (model {model.version}), {len(queries):,} queries\n")
    tasks = sorted({t for per in recall.values() for t in per})
    head = [f"p50 ms @{t} thr" for t in threads] + ["cosine mean", "cosine min", "top-10 agreement"]
    head += [f"Recall@10 {t}" for t in tasks]
    print("| encoder | " + " | ".join(head) + " |")
    print("|---|" + "---:|" * len(head))
    for name, v in vectors.items():
        cos = (v * reference).sum(axis=1)
        cells = [f"{latency[name][t]:.2f}" for t in threads] + [f"{cos.mean():.4f}", f"{cos.min():.4f}"]
        cells.append(f"{agreement[name]:.3f}" if name in agreement else "–")
        cells += [f"{recall[name][t]:.3f}" for t in tasks] if name in recall else ["–"] * len(tasks)
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
