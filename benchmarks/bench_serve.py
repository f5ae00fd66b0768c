"""Load benchmark of `omnisage serve`: a Zipf stream over 100k distinct queries, driven by wrk on loopback.

Phases, each against a freshly started server process unless noted:
  cold           empty caches, Zipf stream A
  warm           same server, Zipf stream B (same distribution, other draws): the cache holds what A saw
  uncached       one connection, every query new: the encoder's end-to-end latency
  hot            after posting all 100k queries: every lookup a hit (a long-running service's steady state)
  redis cold     with a Redis tier, empty
  redis replica  a new server (empty local tier) sharing the now-warm Redis: what a fresh replica sees
With --student (and --endpoint search) every search is two-stage: the student re-ranks the top
relevance.rerank_candidates pins and products; an extra phase, on the same server right after the uncached one,
sends new queries with rerank=false (the first stage alone), so the re-ranking's cost is the difference.
Reports QPS, p50/p90/p99 latency and cache hit rate per phase (Markdown table, and JSON with --out).

  python benchmarks/bench_serve.py --model runs/model --indexes runs/indexes
  python benchmarks/bench_serve.py --model runs/model --indexes runs/indexes --endpoint search --student rel/student
  python benchmarks/bench_serve.py --toy            # no model needed: a hashed-trigram stand-in encoder
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

COLORS = [
    "red",
    "blue",
    "green",
    "black",
    "white",
    "beige",
    "navy",
    "pink",
    "gold",
    "silver",
    "teal",
    "olive",
    "coral",
    "ivory",
    "rust",
    "plum",
    "mint",
    "grey",
    "tan",
    "lilac",
]
ITEMS = [
    "shoes",
    "dress",
    "jacket",
    "sofa",
    "lamp",
    "table",
    "chair",
    "rug",
    "vase",
    "mirror",
    "bag",
    "hat",
    "scarf",
    "boots",
    "shelf",
    "desk",
    "bed",
    "curtains",
    "pillow",
    "blanket",
    "necklace",
    "ring",
    "earrings",
    "watch",
    "sneakers",
    "coat",
    "skirt",
    "jeans",
    "shirt",
    "sweater",
    "cake",
    "cookies",
    "pasta",
    "salad",
    "soup",
    "bread",
    "tattoo",
    "nails",
    "hair",
    "wallpaper",
    "garden",
    "patio",
    "kitchen",
    "bathroom",
    "bedroom",
    "wedding",
    "party",
    "outfit",
    "poster",
]
MODIFIERS = [
    "ideas",
    "for",
    "women",
    "for",
    "men",
    "vintage",
    "modern",
    "diy",
    "easy",
    "small",
    "large",
    "boho",
    "minimalist",
    "rustic",
    "summer",
    "winter",
    "cheap",
    "luxury",
    "aesthetic",
    "cute",
    "simple",
]
# 20 colors x 50 items x 20 modifiers x 6 suffixes = 120k distinct strings; the first 100k (shuffled) are used.
SUFFIXES = ["", " 2024", " inspiration", " near me", " outfit", " pattern"]
WRK_SCRIPT = r"""
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  i = i % #bodies + 1
  if MODE == "search" then
    return wrk.format("GET", bodies[i])
  end
  return wrk.format("POST", "/v1/embed", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def make_queries(n: int, seed: int) -> list[str]:
    all_queries = [f"{c} {i} {m}{s}" for c in COLORS for i in ITEMS for m in MODIFIERS for s in SUFFIXES]
    rng = np.random.default_rng(seed)
    return [all_queries[j] for j in rng.permutation(len(all_queries))[:n]]


def zipf_stream(n_queries: int, length: int, exponent: float, seed: int) -> np.ndarray:
    """Query ranks drawn with P(rank r) ∝ r^-exponent over a finite vocabulary (Zipf's law for queries)."""
    weights = 1.0 / np.arange(1, n_queries + 1) ** exponent
    return np.random.default_rng(seed).choice(n_queries, size=length, p=weights / weights.sum())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


class Server:
    def __init__(self, args: argparse.Namespace, redis_url: str | None):
        self.port = free_port()
        sets = [
            f"serve.port={self.port}",
            f"serve.encoder={args.encoder}",
            f"serve.threads={args.threads}",
            f"serve.max_wait_ms={args.max_wait_ms}",
        ]
        if redis_url:
            sets.append(f"serve.redis_url={redis_url}")
        if args.toy:
            cmd = [sys.executable, __file__, "--serve-toy", *sets]
        else:
            cmd = [sys.executable, "-m", "omnisage.cli", "serve", "--model", args.model]
            cmd += ["--indexes", args.indexes] if args.indexes else []
            cmd += ["--student", args.student] if args.student else []
            cmd += [x for s in sets for x in ("--set", s)]
        if args.server_cpus:
            cmd = ["taskset", "-c", args.server_cpus, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.url + "/healthz")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cache_counts(self) -> dict[str, int]:
        return get_json(self.url + "/healthz")["cache"]["lookups"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_wrk(args: argparse.Namespace, server: Server, lines: list[str], mode: str, connections: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "requests.txt", Path(tmp) / "stream.lua"
        data.write_text("\n".join(lines) + "\n")
        script.write_text(f'MODE = "{mode}"\n' + WRK_SCRIPT)
        before, cpu_before = server.cache_counts(), server.cpu_seconds()
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{args.duration}s",
            "-s",
            str(script),
            server.url,
            "--",
            str(data),
        ]
        if args.client_cpus:
            cmd = ["taskset", "-c", args.client_cpus, *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        after, cpu_after = server.cache_counts(), server.cpu_seconds()
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    delta = {k: after[k] - before[k] for k in after}
    lookups = sum(delta.values())
    result["qps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["hit_rate"] = (delta["local_hit"] + delta["redis_hit"]) / lookups if lookups else 0.0
    result["redis_hits"] = delta["redis_hit"]
    # Server CPU per request does not depend on what else the machine is doing, unlike the latencies.
    result["server_cpu_us"] = (cpu_after - cpu_before) / max(result["requests"], 1) * 1e6
    return result


def bodies(queries: list[str], ranks: np.ndarray, mode: str, k: int, extra: str = "") -> list[str]:
    if mode == "search":
        from urllib.parse import quote_plus

        return [f"/v1/search?q={quote_plus(queries[r])}&k={k}{extra}" for r in ranks]
    return [json.dumps({"query": queries[r]}) for r in ranks]


def prewarm(server: Server, queries: list[str], chunk: int = 256) -> float:
    """Put every distinct query in the cache (the steady state of a long-running service); returns seconds."""
    start = time.perf_counter()
    for lo in range(0, len(queries), chunk):
        body = json.dumps({"queries": queries[lo : lo + chunk]}).encode()
        request = urllib.request.Request(server.url + "/v1/embed", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
    return time.perf_counter() - start


def start_redis() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: `make system` installs it (as root)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model bundle directory (omnisage train)")
    parser.add_argument("--indexes", help="index directory (omnisage index); needed for --endpoint search")
    parser.add_argument("--toy", action="store_true", help="serve a hashed-trigram stand-in encoder instead")
    parser.add_argument(
        "--student", help="relevance student (omnisage relevance OUT/student): two-stage search"
    )
    parser.add_argument("--endpoint", choices=("embed", "search"), default="embed")
    parser.add_argument("--encoder", default="onnx-int8", help="serve.encoder: onnx-int8 | onnx | torch")
    parser.add_argument("--threads", type=int, default=1, help="encoder intra-op threads")
    parser.add_argument("--max-wait-ms", type=float, default=0.0)
    parser.add_argument("--queries", type=int, default=100_000, help="distinct queries")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent")
    parser.add_argument("--duration", type=int, default=15, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (concurrency)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--server-cpus", help="taskset CPU list for the server, e.g. 0")
    parser.add_argument("--client-cpus", help="taskset CPU list for wrk, e.g. 1")
    parser.add_argument("--skip-redis", action="store_true")
    parser.add_argument("--prewarm", action="store_true", help="also run the hot phase for --endpoint search")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if not args.toy and not args.model:
        parser.error("give --model DIR (and --indexes DIR), or --toy")
    if args.student and (args.toy or args.endpoint != "search"):
        parser.error("--student re-ranks searches: give --endpoint search and a --model")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: `make system` installs it (as root)")

    queries = make_queries(args.queries, seed=0)
    length = 400_000
    stream_a = bodies(queries, zipf_stream(len(queries), length, args.zipf, seed=1), args.endpoint, args.k)
    stream_b = bodies(queries, zipf_stream(len(queries), length, args.zipf, seed=2), args.endpoint, args.k)
    unseen = bodies(
        [f"{q} uncached {i}" for i, q in enumerate(queries)], np.arange(len(queries)), args.endpoint, args.k
    )
    # Other new queries, first stage only: the re-ranking's cost is the difference with the uncached phase.
    unseen_first_stage = bodies(
        [f"{q} first stage {i}" for i, q in enumerate(queries)],
        np.arange(len(queries)),
        args.endpoint,
        args.k,
        "&rerank=false",
    )
    rows: list[tuple[str, dict]] = []

    def phase(name: str, server: Server, lines: list[str], connections: int) -> None:
        result = run_wrk(args, server, lines, args.endpoint, connections)
        rows.append((name, result))
        print(
            f"  {name}: {result['qps']:.0f} req/s, p50 {result['p50_us'] / 1000:.2f} ms, "
            f"hit rate {result['hit_rate']:.3f}",
            file=sys.stderr,
        )

    server = Server(args, None)
    try:
        phase("cold (local tier)", server, stream_a, args.connections)
        phase("warm (local tier)", server, stream_b, args.connections)
        phase("uncached, 1 connection", server, unseen, 1)
        if args.student:
            phase("uncached, 1 connection, rerank=false", server, unseen_first_stage, 1)
        if args.endpoint == "embed" or args.prewarm:
            seconds = prewarm(server, queries)
            print(f"  prewarmed {len(queries):,} queries in {seconds:.0f} s", file=sys.stderr)
            phase("hot (every query cached)", server, stream_a, args.connections)
    finally:
        server.stop()
    if not args.skip_redis:
        redis, url = start_redis()
        try:
            server = Server(args, url)
            try:
                phase("cold (local + Redis)", server, stream_a, args.connections)
            finally:
                server.stop()
            server = Server(args, url)  # a new replica: empty local tier, warm Redis
            try:
                phase("new replica, warm Redis", server, stream_b, args.connections)
            finally:
                server.stop()
        finally:
            redis.terminate()
            redis.wait()

    student = f", re-ranked by the student in {args.student}" if args.student else ""
    print(
        f"\n/v1/{args.endpoint}{student}, {args.queries:,} distinct queries, Zipf s={args.zipf}, "
        f"{args.duration} s per phase, {args.connections} connections, encoder {args.encoder if not args.toy else 'toy'}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| phase | req/s | p50 ms | p90 ms | p99 ms | hit rate | server CPU µs/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['qps']:,.0f} | {r['p50_us'] / 1000:.2f} | {r['p90_us'] / 1000:.2f} | "
            f"{r['p99_us'] / 1000:.2f} | {r['hit_rate']:.3f} | {r['server_cpu_us']:.0f} | {r['errors'] + r['non2xx']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "phases": dict(rows)}, indent=2))


def serve_toy(overrides: list[str]) -> None:
    """The server side of --toy: the test suite's trigram encoder behind the real service."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serve"))
    from conftest import TrigramEmbedder

    from omnisage.config import load_config
    from omnisage.serve.server import run_server
    from omnisage.serve.service import QueryService

    config = load_config(None, overrides).serve
    run_server(QueryService(TrigramEmbedder(dim=256), None, config), config)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-toy":
        serve_toy(sys.argv[2:])
    else:
        main()
