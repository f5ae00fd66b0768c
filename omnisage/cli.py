"""The `omnisage` command line: one subcommand per pipeline stage.

Each stage registers itself with a small function below and imports its module only when it runs, so
`omnisage --help` is instant. Errors in the user's input print as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from omnisage.errors import OmniSageError

Registrar = Callable[[argparse._SubParsersAction], None]


def _add_config_args(parser: argparse.ArgumentParser, default: str = "default") -> None:
    parser.add_argument("--config", default=default, help=f"preset name or .toml path (default: {default})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one setting, e.g. --set train.lr=3e-4 (repeatable)",
    )


def _validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check every table of a data directory against the data contracts",
        description="Read every table in DIR (Parquet, CSV or JSONL), check types, keys, vector dimensions, "
        "actions, timestamps, UTF-8 and foreign keys, and print row counts per table.",
    )
    p.add_argument("directory", help="data directory (pins.parquet, engagements.csv, ...)")

    def run(args: argparse.Namespace) -> int:
        from omnisage.data.validate import validate_world

        counts = validate_world(args.directory)
        width = max(len(n) for n in counts)
        for name, n in counts.items():
            print(f"  {name:<{width}}  {n:>12,} rows")
        print(f"ok: {len(counts)} tables valid in {args.directory}")
        return 0

    p.set_defaults(func=run)


REGISTRARS: list[Registrar] = [_validate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnisage",
        description="Unified search embeddings: one query embedding for pins, products and related queries.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OmniSageError as exc:
        print(f"omnisage {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"omnisage {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
