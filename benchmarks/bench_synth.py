"""Synthetic world generation: wall time, CPU time, throughput (pins/s, rows/s over all tables) and peak RSS
per scale (the target: 1M pins in under 10 minutes and 8 GB on a 2-core machine). Each scale runs in a fresh
process, so its peak memory is its own.

  python benchmarks/bench_synth.py                      # 100k and 1M pins
  python benchmarks/bench_synth.py --scales 20000 --keep --out /tmp/synth_bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from omnisage.config import SynthConfig
from omnisage.synth.world import generate_world
start, cpu = time.perf_counter(), time.process_time()
summary = generate_world(SynthConfig(pins=int(sys.argv[1]), seed=int(sys.argv[2])), sys.argv[3])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024, "summary": summary}))
"""


def run(scale: int, seed: int, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(scale), str(seed), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"synth at {scale:,} pins failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["disk_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[100_000, 1_000_000], help="numbers of pins")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="where worlds are written (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated worlds")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    header = f"{'pins':>10} {'rows':>12} {'wall s':>8} {'cpu s':>8} {'pins/s':>9} {'rows/s':>10} {'peak RSS':>9} {'disk':>8}"
    print(header)
    for scale in args.scales:
        out = root / f"world_{scale}"
        r = run(scale, args.seed, out)
        counts = r["summary"]["counts"]
        rows = sum(v for k, v in counts.items() if k != "users")
        print(
            f"{scale:>10,} {rows:>12,} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {scale / r['wall_s']:>9,.0f} "
            f"{rows / r['wall_s']:>10,.0f} {r['peak_rss_mb']:>7,.0f}MB {r['disk_mb']:>6,.0f}MB",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    if not args.keep and args.out is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
