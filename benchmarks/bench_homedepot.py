"""Home Depot product search: `omnisage bench homedepot` on the real data, the headline numbers printed.

The data is read in place (never copied into the project): `--data`, else $OMNISAGE_HOMEDEPOT_CSV, else
`../shared/data/homedepot/train.csv` beside the repository. Extra arguments go to `omnisage bench homedepot`.

  nice -n 10 python benchmarks/bench_homedepot.py --out bench_out/homedepot
  nice -n 10 python benchmarks/bench_homedepot.py --set bench.variants=omnisage,searchsage --set train.steps=100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from omnisage.cli import main

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot" / "train.csv"


def run() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=os.environ.get("OMNISAGE_HOMEDEPOT_CSV", str(DEFAULT)))
    parser.add_argument("--out", default="bench_out/homedepot")
    args, rest = parser.parse_known_args()
    if not Path(args.data).is_file():
        print(
            f"no Home Depot CSV at {args.data} (pass --data or set OMNISAGE_HOMEDEPOT_CSV)", file=sys.stderr
        )
        return 2
    start = time.perf_counter()
    code = main(["bench", "homedepot", "--data", args.data, "--out", args.out, "--no-progress", *rest])
    if code:
        return code
    report = json.loads((Path(args.out) / "report.json").read_text(encoding="utf-8"))
    print(
        f"\nRecall@{report['k']} on {report['split']['heldout_pairs']:,} held-out pairs, wall {time.perf_counter() - start:.0f} s"
    )
    for row in report["recall"]:
        print(
            f"  {row['task']:<8} {row['system']:<20} {row['recall']:.3f} ({row['ci_low']:.3f}-{row['ci_high']:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run())
