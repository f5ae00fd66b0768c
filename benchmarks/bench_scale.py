"""The whole retrieval path at catalog scale: synth → enrich → train → embed → index (HNSW and IVF-PQ) →
recall and speed of each index on trained embeddings → `/v1/search` under load.

Each stage is the `omnisage` command a user runs, in its own process: its wall time, CPU time and peak RSS
(the process's own, from wait4) are recorded. Stages resume: a stage whose record is in WORK/stages.json is
not run again, so a killed benchmark picks up where it stopped (delete a record, or the folder, to redo it).

The index table loads each saved pin index as the service does and measures it with held-out probes: query
embeddings other than the ones `omnisage index` tuned its search width with. Recall@10 is against exact
search over the same vectors; times are CPU seconds of this process on one FAISS thread (what a query costs
one core). RAM bytes per vector are the index's in-memory structures (HNSW: vectors and graph; IVF-PQ: codes,
list ids, centroids and codebooks), disk bytes IVF-PQ's memory-mapped float16 vectors.

  python benchmarks/bench_scale.py --pins 1000000 --work /tmp/scale         # hours on 2 cores
  python benchmarks/bench_scale.py --pins 20000 --work /tmp/scale_small --steps 40 --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CLI = str(Path(sys.executable).with_name("omnisage"))
AS_OF = (
    "2024-06-16"  # the synthetic world's logs end 2024-07-01; the last two weeks are the evaluation window
)


def run_stage(work: Path, name: str, argv: list[str], record: dict[str, Any]) -> dict[str, Any]:
    """Run one command unless its measurement is recorded; returns and saves {wall_s, cpu_s, peak_rss_gb}."""
    if name in record:
        print(f"{name}: done before ({record[name]['wall_s']:.0f} s), skipped", flush=True)
        return record[name]
    print(f"{name}: {' '.join(argv)}", flush=True)
    log = (work / f"{name}.log").open("w")
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{name} failed (exit {process.returncode}); see {work / f'{name}.log'}")
    record[name] = {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
    }
    tmp = work / "stages.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(work / "stages.json")
    print(f"{name}: {record[name]}", flush=True)
    return record[name]


def held_out_probes(work: Path, count: int) -> np.ndarray:
    """Query embeddings `omnisage index` did not tune with (its permutation, after its RECALL_PROBES)."""
    from omnisage.index.catalog import PROBE_SEED, RECALL_PROBES
    from omnisage.infer.embed import load_embeddings

    queries = load_embeddings(work / "embeddings", "query")
    if queries is None:
        raise SystemExit(f"{work / 'embeddings'}: no query embeddings")
    order = np.random.default_rng(PROBE_SEED).permutation(len(queries[1]))
    return queries[1][order[RECALL_PROBES : RECALL_PROBES + count]]


def cpu_seconds(fn: Any) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def exact_truth(work: Path, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The pin ids in embedding order and each probe's exact top-k rows (P, k) over the float32 embeddings."""
    from omnisage.index.exact import ExactIndex
    from omnisage.infer.embed import load_embeddings

    ids, vectors, _ = load_embeddings(work / "embeddings", "pin")
    return ids, ExactIndex(ids, vectors).search(probes, k)[1]


def measure_index(
    folder: Path, truth: tuple[np.ndarray, np.ndarray], probes: np.ndarray, k: int, widths: list[int]
) -> list[dict[str, Any]]:
    """Recall@k against exact search, CPU ms per single query and QPS per core (batches of 64) per width."""
    import faiss

    from omnisage.index.catalog import IndexSet

    index = IndexSet.load(folder).indexes["pin"]
    kind = index.kind
    if not np.array_equal(np.asarray(index.ids, dtype=object), np.asarray(truth[0], dtype=object)):
        raise SystemExit(f"{folder}: the pin index's rows are not the embeddings' (rebuild it)")
    if kind == "hnsw":
        ram = faiss.serialize_index(index.index).size
        knob = "ef_search"
    else:
        ram = index.resident_bytes()
        knob = "nprobe"
    disk = sum(p.stat().st_size for p in (folder / "pin").glob("*.npy")) if kind == "ivfpq" else 0
    rows = []
    for width in widths:
        setattr(index, knob, width)
        _, got = index.search(probes, k)
        hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(got, truth[1])]
        single = cpu_seconds(lambda: [index.search(p[None], k) for p in probes])
        batched = cpu_seconds(
            lambda: [index.search(probes[i : i + 64], k) for i in range(0, len(probes), 64)]
        )
        rows.append(
            {
                "kind": kind,
                knob: width,
                "recall10": round(float(np.mean(hits)) / k, 4),
                "ms_per_query": round(single / len(probes) * 1000, 3),
                "qps_per_core": round(len(probes) / batched),
                "ram_bytes_per_vector": round(ram / len(index)),
                "disk_bytes_per_vector": round(disk / len(index)),
            }
        )
        print(f"  {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=1_000_000, help="pins in the synthetic world")
    parser.add_argument(
        "--work", type=Path, required=True, help="folder for every stage's output (resumable)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", default="default", help="model preset")
    parser.add_argument("--steps", type=int, default=400, help="training steps (the demo's 400 by default)")
    parser.add_argument("--probes", type=int, default=1000, help="held-out query embeddings per index")
    parser.add_argument("--duration", type=int, default=10, help="seconds per /v1/search load phase")
    parser.add_argument("--skip-serve", action="store_true", help="no /v1/search load phase")
    args = parser.parse_args()

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    path = work / "stages.json"
    record: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    world, enriched, run, emb = work / "world", work / "enriched", work / "run", work / "embeddings"
    preset = ["--config", args.config, "--no-progress"]
    run_stage(work, "synth", [CLI, "synth", "--out", str(world), "--scale", str(args.pins), "--seed",
                              str(args.seed), "--no-progress"], record)  # fmt: skip
    run_stage(work, "enrich", [CLI, "enrich", "--data", str(world), "--as-of", AS_OF, "--out", str(enriched),
                               *preset], record)  # fmt: skip
    run_stage(work, "train", [CLI, "train", "--data", str(world), "--enriched", str(enriched), "--out", str(run),
                              "--set", f"train.steps={args.steps}", *preset], record)  # fmt: skip
    run_stage(work, "embed", [CLI, "embed", "--model", str(run / "model"), "--enriched", str(enriched),
                              "--queries", str(world), "--out", str(emb), *preset], record)  # fmt: skip
    for kind in ("hnsw", "ivfpq"):
        run_stage(work, f"index_{kind}", [CLI, "index", "--embeddings", str(emb), "--out",
                                          str(work / f"indexes_{kind}"), "--set", f"index.kind={kind}",
                                          *preset], record)  # fmt: skip

    counts = json.loads((world / "world.json").read_text())["counts"]
    print(f"\n{args.pins:,}-pin world: {counts['pins']:,} pins, {counts['products']:,} products, "
          f"{counts['queries']:,} queries\n")  # fmt: skip
    print("| stage | wall s | CPU s | peak RSS GB |\n|---|---:|---:|---:|")
    for name, r in record.items():
        if not name.startswith("index_table"):
            print(f"| {name} | {r['wall_s']:,.0f} | {r['cpu_s']:,.0f} | {r['peak_rss_gb']:.2f} |")
    for kind in ("hnsw", "ivfpq"):
        stats = json.loads((work / f"indexes_{kind}" / "indexes.json").read_text())["stats"]
        print(f"omnisage index ({kind}) tuned: {json.dumps(stats)}")

    if "index_table" not in record:
        import faiss

        faiss.omp_set_num_threads(1)
        probes = held_out_probes(work, args.probes)
        truth = exact_truth(work, probes, 10)
        print(f"\npin index, {len(probes)} held-out query probes, one FAISS thread:")
        table = measure_index(work / "indexes_hnsw", truth, probes, 10, [64, 128, 256, 512, 1024])
        table += measure_index(work / "indexes_ivfpq", truth, probes, 10, [16, 32, 64, 128, 256])
        record["index_table"] = table
        path.write_text(json.dumps(record, indent=2))
    print(
        "\n| index | width | recall@10 | CPU ms / query | QPS / core (batch 64) | RAM B / vector | disk B / vector |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in record["index_table"]:
        width = f"ef_search {r['ef_search']}" if r["kind"] == "hnsw" else f"nprobe {r['nprobe']}"
        print(f"| {r['kind']} | {width} | {r['recall10']:.3f} | {r['ms_per_query']:.3f} | {r['qps_per_core']:,} "
              f"| {r['ram_bytes_per_vector']:,} | {r['disk_bytes_per_vector']:,} |")  # fmt: skip

    if not args.skip_serve:
        bench = Path(__file__).with_name("bench_serve.py")
        argv = [sys.executable, str(bench), "--model", str(run / "model"), "--indexes", str(work / "indexes_hnsw"),
                "--endpoint", "search", "--skip-redis", "--duration", str(args.duration),
                "--out", str(work / "serve.json")]  # fmt: skip
        print(f"\n/v1/search under load: {' '.join(argv)}", flush=True)
        if subprocess.run(argv).returncode:  # bench_serve printed why
            raise SystemExit("bench_scale: the /v1/search load phase failed (the stages above are recorded)")


if __name__ == "__main__":
    main()
