"""Split a relevance CSV by query into train.csv and test.csv, for `omnisage bench homedepot --test`.

A seeded share of the distinct search terms goes to test.csv with every row of theirs; the rest to train.csv.
Rows are copied unchanged (same header, same bytes per field), so both files read like the original. The files
are written to --out (never into the repository: the data stays where it is).

  python benchmarks/split_by_query.py --data ../shared/data/homedepot/train.csv --out /tmp/hd_split
  omnisage bench homedepot --data /tmp/hd_split/train.csv --test /tmp/hd_split/test.csv --out OUT
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot" / "train.csv"


def split(data: Path, out: Path, share: float, seed: int, column: str) -> dict[str, int]:
    with data.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or column not in rows[0]:
        raise SystemExit(f"{data}: no '{column}' column in the header")
    header, body = rows[0], rows[1:]
    at = header.index(column)
    bad = [n for n, row in enumerate(body, start=2) if len(row) <= at]
    if bad:
        raise SystemExit(f"{data}:{bad[0]}: row has no '{column}' field ({len(bad)} such rows)")
    queries = sorted({row[at] for row in body})
    order = np.random.default_rng(seed).permutation(len(queries))
    test = {queries[i] for i in order[: round(share * len(queries))]}
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, keep in (("train", False), ("test", True)):
        target = out / f"{name}.csv"
        part = target.with_suffix(".csv.part")
        with part.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            chosen = [row for row in body if (row[at] in test) == keep]
            writer.writerows(chosen)
        os.replace(part, target)
        counts[name] = len(chosen)
    counts["test_queries"] = len(test)
    counts["queries"] = len(queries)
    return counts


def run() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=os.environ.get("OMNISAGE_HOMEDEPOT_CSV", str(DEFAULT)))
    parser.add_argument("--out", required=True, help="folder for train.csv and test.csv")
    parser.add_argument("--share", type=float, default=0.2, help="share of the queries in test.csv (0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--column", default="search_term", help="the query column (search_term)")
    args = parser.parse_args()
    if not 0.0 < args.share < 1.0:
        parser.error(f"--share must be in (0, 1), got {args.share}")
    if not Path(args.data).is_file():
        print(f"no CSV at {args.data} (pass --data or set OMNISAGE_HOMEDEPOT_CSV)", file=sys.stderr)
        return 2
    counts = split(Path(args.data), Path(args.out), args.share, args.seed, args.column)
    print(
        f"{counts['test_queries']:,} of {counts['queries']:,} queries held out: "
        f"train.csv {counts['train']:,} rows, test.csv {counts['test']:,} rows in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run())
