"""Batch-inference throughput (`omnisage embed`): entities/s and queries/s per engine and encoder batch size.

python benchmarks/bench_embed.py --model runs/model --enriched demo_out/enriched --queries demo_out/world
python benchmarks/bench_embed.py ... --engines local,spark --spark-master 'local[2]' --part-rows 1000

The local engine runs in this process with --threads torch threads; the Spark engine runs one task per part, each
Python worker with one torch thread (Spark sets OMP_NUM_THREADS to spark.task.cpus). Spark's session start is
printed apart; its first job also pays each worker's imports and model load, so its rate is printed cold (first
job) and warm (the same job again, workers kept).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from omnisage.config import InferConfig, SparkConfig
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
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads of the local engine")
    parser.add_argument("--engines", default="local", help="comma-separated: local, spark")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--part-rows", type=int, default=InferConfig.part_rows, help="rows per part (task)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    model = load_model(args.model)
    inputs = {
        "entities": resolve_input(args.enriched, "enriched_entities"),
        "queries": resolve_input(args.queries, "queries"),
    }
    session = _spark(args.spark_master) if "spark" in engines else None
    print(f"\nbatch inference with model {model.version}, parts of {args.part_rows:,} rows\n")
    print("| engine | batch size | entities/s | queries/s |")
    print("|---|---:|---:|---:|")
    cold = "spark" in engines  # the first Spark job starts the Python workers: printed apart
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        config = InferConfig(batch_size=batch, part_rows=args.part_rows)
        for engine in engines:
            for run in ("cold", "warm") if engine == "spark" and cold else ("",):
                rates = [
                    _rate(engine, model, args.model, config, s, path, session) for s, path in inputs.items()
                ]
                name = "local" if engine == "local" else f"spark {args.spark_master} {run}".strip()
                print(f"| {name} | {batch} | {rates[0]} | {rates[1]} |")
            cold = cold and engine != "spark"
    if session is not None:
        session.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\npeak resident memory of this process {peak_mb:,.0f} MB (model + one part of vectors + one batch)"
    )


def _spark(master: str):
    from omnisage.features.engines import spark_session

    start = time.perf_counter()
    session = spark_session(SparkConfig(master=master, driver_memory="2g"), app="omnisage-embed")
    print(f"Spark session {master} started in {time.perf_counter() - start:.1f} s")
    return session


def _rate(engine, model, bundle, config, stream, path, session) -> str:
    if path is None:
        return "–"
    kwargs = {stream: path}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        if engine == "spark":
            from omnisage.infer.embed_spark import embed_all_spark

            report = embed_all_spark(bundle, out, config, spark=session, **kwargs)
        else:
            report = embed_all(model, out, config, **kwargs)
        return f"{report.rows / (time.perf_counter() - start):,.0f}"


if __name__ == "__main__":
    main()
