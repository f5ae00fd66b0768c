"""The `omnisage` command line: one subcommand per pipeline stage.

Each stage registers its parser (flags and help texts) with a small function below; what it does when it runs
is in `commands.py`, which imports the stage's module only then, so `omnisage --help` is instant. Errors in the
user's input or environment (an OmniSageError, an OSError naming its path) print as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from omnisage import commands
from omnisage.errors import OmniSageError, describe_os_error

Registrar = Callable[[argparse._SubParsersAction], None]


def _add_shared_args(
    parser: argparse.ArgumentParser,
    *,
    out: str | None = "output directory",
    readme: bool = False,
    config: str = "default",
) -> None:
    """The options the stages share, after their own: the output folder (`out`: its help; None = no --out), the
    README whose Results section to fill, and the settings (--config, --set)."""
    if out is not None:
        parser.add_argument("--out", required=True, metavar="DIR", help=out)
    if readme:
        parser.add_argument(
            "--readme", metavar="FILE", help="also write the results into this README's Results section"
        )
    parser.add_argument("--config", default=config, help=f"preset name or .toml path (default: {config})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one setting, e.g. --set train.lr=3e-4 (repeatable)",
    )


def _synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic Pinterest world (every input table, plus ground truth)",
        description="Write pins, products, queries, boards, board_saves, engagements, relevance_labels, "
        "legacy_embeddings and image_embeddings (Parquet), truth/ and world.json into OUT, deterministic per "
        "seed, and print a coverage summary. Settings: [synth] of the config, overridden by --scale/--seed.",
    )
    p.add_argument("--scale", type=int, metavar="PINS", help="number of pins (default: synth.pins)")
    p.add_argument("--seed", type=int, help="random seed (default: synth.seed)")
    _add_shared_args(p)

    p.set_defaults(func=commands.synth_command)


def _validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check every table of a data directory against the data contracts",
        description="Read every table in DIR (Parquet, CSV or JSONL), check types, keys, vector dimensions, "
        "actions, timestamps, UTF-8 and foreign keys, and print row counts per table.",
    )
    p.add_argument("directory", help="data directory (pins.parquet, engagements.csv, ...)")

    p.set_defaults(func=commands.validate_command)


def _enrich(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "enrich",
        help="build the enriched entity table (board titles, engaged queries, captions)",
        description="Enrich every pin and product of DIR with board titles, engaged queries and captions, "
        "from logs before --as-of only; write OUT/enriched_entities.parquet and OUT/coverage.json.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="data directory (validated first)")
    p.add_argument(
        "--as-of",
        required=True,
        metavar="TS",
        help="cutoff, ISO 8601 (UTC when no zone): later logs are ignored",
    )
    p.add_argument("--engine", choices=("duckdb", "spark"), help="default: enrich.engine (duckdb)")
    p.add_argument(
        "--state",
        metavar="FILE",
        help="engaged-query state (Parquet): updated from the logs since its cutoff, created when absent",
    )
    _add_shared_args(p)

    p.set_defaults(func=commands.enrich_command)


def _embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="batch inference: embed every pin, product and query into Parquet parts",
        description="Stream the enriched entity table through the entity encoder and the queries table "
        "through the query encoder, into OUT/{entities,queries}/part-*.parquet (entity_type, entity_id, "
        "vector, model_version). Resumable: finished parts are kept. --shard i/n runs worker i of n. "
        "--engine spark runs one Spark task per part (master: spark.master, default local[*]), writing "
        "the same parts; executors must see the model, the input and OUT at the same paths.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle (omnisage train)")
    p.add_argument("--enriched", metavar="PATH", help="enriched_entities.parquet, or the folder holding it")
    p.add_argument("--queries", metavar="PATH", help="queries table (file), or a data directory holding one")
    p.add_argument(
        "--shard", default="0/1", metavar="I/N", help="this worker's share of the parts (default 0/1)"
    )
    p.add_argument(
        "--engine",
        choices=("local", "spark"),
        help="local: this process; spark: a Spark job, one task per part (default: infer.engine, local)",
    )
    _add_shared_args(p)

    p.set_defaults(func=commands.embed_command)


def _index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build the retrieval indexes (HNSW per entity type, plus legacy) and measure their recall",
        description="Build one index per entity type from `omnisage embed` output, and one per item type over "
        "the legacy embeddings of --world; report HNSW recall@k against exact search.",
    )
    p.add_argument("--embeddings", required=True, metavar="DIR", help="output of omnisage embed")
    p.add_argument(
        "--world",
        metavar="DIR",
        help="data directory whose legacy_embeddings get an index too; its pins, products and queries tables "
        "give the items their display fields (image_ref, volume, and the texts without --enriched)",
    )
    p.add_argument(
        "--enriched",
        metavar="PATH",
        help="enriched_entities.parquet or its folder: display fields (titles, captions, board titles, engaged "
        "queries) stored in OUT/items/ for the search page",
    )
    _add_shared_args(p)

    p.set_defaults(func=commands.index_command)


def _port(text: str) -> int:
    """A TCP port, 1-65535: the OS would read 99999 modulo 65536 and listen somewhere else."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, got {text!r}")
    return int(text)


def _serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the query-embedding and search HTTP service",
        description="Serve POST /v1/embed, GET /v1/search?q=&type=pin|product|query&k=, POST /v1/score (with "
        "--student), GET /healthz and GET /metrics, with a TTL+LRU cache (and a Redis tier with --redis) in "
        "front of the query encoder.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle (omnisage train)")
    p.add_argument("--indexes", metavar="DIR", help="output of omnisage index (needed for /v1/search)")
    p.add_argument(
        "--student",
        metavar="DIR",
        help="relevance student (omnisage relevance: OUT/student): /v1/search re-ranks the top "
        "relevance.rerank_candidates pins and products with it, and POST /v1/score answers; the indexes need "
        "their item store (omnisage index --enriched)",
    )
    p.add_argument("--host", help="default: serve.host (127.0.0.1)")
    p.add_argument("--port", type=_port, help="default: serve.port (8000)")
    p.add_argument("--redis", metavar="URL", help="shared cache tier, e.g. redis://127.0.0.1:6379/0")
    _add_shared_args(p, out=None)

    p.set_defaults(func=commands.serve_command)


def _search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="query a running service and print the pins, products and related queries it finds",
        description="Send each QUERY to GET /v1/search of a running `omnisage serve` and print the results, "
        "with titles from --world when given.",
    )
    p.add_argument("queries", nargs="+", metavar="QUERY")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default: %(default)s)")
    p.add_argument("--world", metavar="DIR", help="data directory to show pin/product titles from")
    p.add_argument("-k", type=int, default=5, help="results per type (default: 5)")
    p.add_argument("--type", help="pin, product, query or a comma list (default: all three)")
    p.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="wait this long for the service to start"
    )

    p.set_defaults(func=commands.search_command)


def _evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="Recall@k of a model vs SearchSage and baselines on held-out pairs (Markdown + JSON report)",
        description="Sample held-out (query, entity) pairs from the last eval.eval_days of the logs of DIR, rank "
        "each positive against a random corpus of its type, and report Recall@k per task, action and language "
        "with bootstrap intervals for the model, its compatibility towers, SearchSage and the baselines.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="data directory (the logs and truth/)")
    p.add_argument("--model", metavar="DIR", help="model bundle (omnisage train OUT/model)")
    p.add_argument("--searchsage", metavar="DIR", help="bundle trained with --set train.towers=legacy")
    p.add_argument(
        "--enriched", metavar="PATH", help="enriched_entities.parquet or its folder (default: the one in DIR)"
    )
    p.add_argument(
        "--baselines",
        metavar="LIST",
        help="comma list of random,bm25,bm25_enriched,zero_shot (default: eval.baselines)",
    )
    _add_shared_args(p, out="report folder", readme=True)

    p.set_defaults(func=commands.evaluate_command)


def _train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the query and pin/product encoders (multi-task sampled softmax with logQ)",
        description="Build unique (query, entity) training pairs from the logs of the training window, then "
        "train the query encoder, the unified pin/product encoder and the compatibility towers jointly. "
        "Writes OUT/model (the bundle), OUT/metrics.jsonl and OUT/checkpoints; rerunning resumes. "
        "Data parallel: torchrun --nproc_per_node N -m omnisage.cli train ...",
    )
    p.add_argument(
        "--data", required=True, metavar="DIR", help="data directory (engagements, pins, products, ...)"
    )
    p.add_argument(
        "--enriched",
        metavar="PATH",
        help="enriched_entities.parquet or its folder (default: the one in DIR; without one, raw text only)",
    )
    _add_shared_args(p)

    p.set_defaults(func=commands.train_command)


def _relevance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "relevance",
        help="train the relevance model: a cross-encoder teacher, silver labels, a real-time student",
        description="From DIR's relevance_labels (scale declared in world.json): train a cross-encoder teacher "
        "on (query, item text), let it label the first stage's candidates of every query (silver; "
        "relevance.silver_share times the human labels), and train the student that re-ranks in serving on "
        "cheap features (our embeddings, BM25, term match, engagement) over gold + silver. Writes "
        "OUT/teacher, OUT/silver, OUT/student (serve it with --student) and OUT/student_gold; with "
        "--eval-labels, OUT/report.{md,json}. Rerunning reuses finished stages and resumes the others.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="data directory with relevance_labels")
    p.add_argument(
        "--enriched", metavar="PATH", help="enriched_entities.parquet or its folder (default: in DIR)"
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle (omnisage train OUT/model)")
    p.add_argument(
        "--eval-labels",
        metavar="FILE",
        help="held-out labels on the same scale to report on (their queries get no silver labels), e.g. a "
        "synthetic world's truth/relevance_eval.parquet",
    )
    _add_shared_args(p)
    p.set_defaults(func=commands.relevance_command)


def _ablate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ablate",
        help="train the paper's model variants and report its Tables 2-6 on the same held-out pairs",
        description="Train every variant the tables need into OUT/variants/<name> (resumable: a rerun only "
        "does what is missing), rank them and the baselines on the same held-out pairs, and write "
        "OUT/ablations.md and OUT/ablations.json.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="data directory (the logs)")
    p.add_argument(
        "--enriched", metavar="PATH", help="enriched_entities.parquet or its folder (default: the one in DIR)"
    )
    p.add_argument(
        "--tables", default="2,3,4,5,6", metavar="LIST", help="paper tables to build (default: all)"
    )
    p.add_argument(
        "--train-only",
        metavar="NAMES",
        help="only train (or resume) these variants, comma-separated, and stop: run several such commands "
        "side by side on one --out, then a plain `ablate` ranks them and writes the report (variants: "
        "full, searchsage, no_compat, continuous, no_captions, text, boards, and per task of pin, product, "
        "query: TASK_only, TASK_only_share)",
    )
    _add_shared_args(p, out="output folder (variants, ranks, report)", readme=True)

    p.set_defaults(func=commands.ablate_command)


def _bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="real-data benchmark: product search on relevance judgments (Home Depot, ESCI)",
        description="Split the queries (or take --test), build the training world with legacy vectors from a "
        "frozen sentence encoder, enrich, train each variant, and rank BM25, the zero-shot encoder, "
        "SearchSage, the full model and its ablations on the same held-out pairs against a random corpus. "
        "Writes OUT/report.md, OUT/report.json, OUT/ranks.parquet; a rerun reuses what is done.",
    )
    sources = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    hd = sources.add_parser("homedepot", help="the Home Depot relevance CSV (id, product_uid, ...)")
    hd.add_argument("--data", required=True, metavar="CSV", help="train.csv of the Home Depot relevance set")
    hd.add_argument("--test", metavar="CSV", help="evaluate on this file (same format; unseen queries only)")
    es = sources.add_parser("esci", help="Amazon Shopping Queries (ESCI) examples + products Parquet")
    es.add_argument("--examples", required=True, metavar="PARQUET", help="shopping_queries_dataset_examples")
    es.add_argument("--products", required=True, metavar="PARQUET", help="shopping_queries_dataset_products")
    es.add_argument("--locales", metavar="LIST", help="comma list of us,es,jp (default: all)")
    es.add_argument("--small-version", action="store_true", help="only the rows with small_version = 1")
    es.add_argument("--published-split", action="store_true", help="train on split=train, test on split=test")
    for q in (hd, es):
        q.add_argument("--out", metavar="DIR", help="output folder (default: bench_out/SOURCE)")
        q.add_argument("--save-model", metavar="DIR", help="keep the full model's bundle here (to serve)")
        q.add_argument("--cache", default=".omnisage-cache", metavar="DIR", help="legacy-vector cache")
        q.add_argument("--strict", action="store_true", help="stop at the first bad row (default: count it)")
        q.add_argument("--no-progress", action="store_true", help="no progress bars")
        _add_shared_args(q, out=None, config="bench")

    p.set_defaults(func=commands.bench_command)


REGISTRARS: list[Registrar] = [
    _synth, _validate, _enrich, _train, _embed, _index, _serve, _search, _evaluate, _relevance, _ablate, _bench,
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnisage",
        description="Unified search embeddings: one query embedding for pins, products and related queries.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(sub)
    for command in sub.choices.values():  # every stage takes --no-progress (see main)
        command.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    from omnisage import progress

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    # --no-progress silences every bar of the run, the stage's own and the evaluation's
    progress.ENABLED = not getattr(args, "no_progress", False)
    # A long job's lines reach a log file (or a pipe) as they are printed, not in blocks of a few KB at the end.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a real text stream (pytest's capture may replace it)
            stream.reconfigure(line_buffering=True)
    try:
        return int(args.func(args) or 0)
    except OmniSageError as exc:
        print(f"omnisage {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the stage read or made outside the atomic writers: one line naming it too
        print(f"omnisage {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"omnisage {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        progress.ENABLED = True


if __name__ == "__main__":
    sys.exit(main())
