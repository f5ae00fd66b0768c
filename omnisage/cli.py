"""The `omnisage` command line: one subcommand per pipeline stage.

Each stage registers itself with a small function below and imports its module only when it runs, so
`omnisage --help` is instant. Errors in the user's input print as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import shlex
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


def _synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic Pinterest world (every input table, plus ground truth)",
        description="Write pins, products, queries, boards, board_saves, engagements, legacy_embeddings and "
        "image_embeddings (Parquet), truth/ and world.json into OUT, deterministic per seed, and print a "
        "coverage summary. Settings: [synth] of the config, overridden by --scale/--seed.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--scale", type=int, metavar="PINS", help="number of pins (default: synth.pins)")
    p.add_argument("--seed", type=int, help="random seed (default: synth.seed)")
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        import dataclasses

        from omnisage.config import load_config
        from omnisage.data.synthetic import format_summary, generate_world

        config = load_config(args.config, args.overrides).synth
        given = {"pins": args.scale, "seed": args.seed}
        config = dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
        summary = generate_world(config, args.out, progress=sys.stderr.isatty() and not args.no_progress)
        print(format_summary(summary))
        print(f"ok: wrote a world of {config.pins:,} pins (seed {config.seed}) to {args.out}")
        return 0

    p.set_defaults(func=run)


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
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--state",
        metavar="FILE",
        help="engaged-query state (Parquet): updated from the logs since its cutoff, created when absent",
    )
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        import dataclasses

        from omnisage.config import load_config
        from omnisage.features.enriched import format_report, parse_as_of, run_enrich

        config = load_config(args.config, args.overrides).enrich
        if args.engine:
            config = dataclasses.replace(config, engine=args.engine)
        report = run_enrich(args.data, parse_as_of(args.as_of), args.out, config, state_path=args.state)
        print(format_report(report))
        print(f"ok: wrote {args.out}/enriched_entities.parquet and {args.out}/coverage.json")
        return 0

    p.set_defaults(func=run)


def _embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="batch inference: embed every pin, product and query into Parquet parts",
        description="Stream the enriched entity table through the entity encoder and the queries table "
        "through the query encoder, into OUT/{entities,queries}/part-*.parquet (entity_type, entity_id, "
        "vector, model_version). Resumable: finished parts are kept. --shard i/n runs worker i of n.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle (omnisage train)")
    p.add_argument("--enriched", metavar="PATH", help="enriched_entities.parquet, or the folder holding it")
    p.add_argument("--queries", metavar="PATH", help="queries table (file), or a data directory holding one")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--shard", default="0/1", metavar="I/N", help="this worker's share of the parts (default 0/1)"
    )
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        from omnisage.config import load_config
        from omnisage.infer.embed import embed_all, parse_shard, resolve_input
        from omnisage.model.bundle import load_model

        config = load_config(args.config, args.overrides).infer
        shard = parse_shard(args.shard)
        enriched = resolve_input(args.enriched, "enriched_entities")
        queries = resolve_input(args.queries, "queries")
        report = embed_all(load_model(args.model), args.out, config, enriched, queries, shard)
        print(
            f"ok: {report.rows:,} rows embedded in {report.parts_done} new parts "
            f"({report.parts_skipped} already done) -> {args.out}"
        )
        return 0

    p.set_defaults(func=run)


def _index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build the retrieval indexes (HNSW per entity type, plus legacy) and measure their recall",
        description="Build one index per entity type from `omnisage embed` output, and one per item type over "
        "the legacy embeddings of --world; report HNSW recall@k against exact search.",
    )
    p.add_argument("--embeddings", required=True, metavar="DIR", help="output of omnisage embed")
    p.add_argument("--world", metavar="DIR", help="data directory whose legacy_embeddings get an index too")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        from omnisage.config import load_config
        from omnisage.index.catalog import build_indexes

        config = load_config(args.config, args.overrides).index
        built = build_indexes(args.embeddings, args.out, config, args.world)
        for name, stats in built.stats.items():
            print(
                f"  {name:<15} {stats['count']:>10,} vectors  {config.kind}  "
                + "  ".join(f"{k} {v}" for k, v in stats.items() if k != "count")
            )
        print(f"ok: indexes of model {built.model_version} in {args.out}")
        return 0

    p.set_defaults(func=run)


def _serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the query-embedding and search HTTP service",
        description="Serve POST /v1/embed, GET /v1/search?q=&type=pin|product|query&k=, GET /healthz and "
        "GET /metrics, with a TTL+LRU cache (and a Redis tier with --redis) in front of the query encoder.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle (omnisage train)")
    p.add_argument("--indexes", metavar="DIR", help="output of omnisage index (needed for /v1/search)")
    p.add_argument("--host", help="default: serve.host (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: serve.port (8000)")
    p.add_argument("--redis", metavar="URL", help="shared cache tier, e.g. redis://127.0.0.1:6379/0")
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        import dataclasses

        from omnisage.config import load_config
        from omnisage.serve.server import serve

        config = load_config(args.config, args.overrides).serve
        given = {"host": args.host, "port": args.port, "redis_url": args.redis}
        config = dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
        serve(args.model, args.indexes, config)
        return 0

    p.set_defaults(func=run)


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

    def run(args: argparse.Namespace) -> int:
        from omnisage.serve.client import format_results, search, titles, wait_until_up

        if args.wait > 0:
            wait_until_up(args.url, args.wait)
        names = titles(args.world)
        for query in args.queries:
            print(format_results(search(args.url, query, args.k, args.type), names))
        return 0

    p.set_defaults(func=run)


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
    p.add_argument("--out", required=True, metavar="DIR", help="report folder")
    p.add_argument(
        "--readme", metavar="FILE", help="also write the results into this README's Results section"
    )
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        from omnisage.config import load_config
        from omnisage.eval.report import headline
        from omnisage.eval.run import run_evaluate

        config = load_config(args.config, args.overrides)
        baselines = (
            None if args.baselines is None else [b.strip() for b in args.baselines.split(",") if b.strip()]
        )
        command = _command_line(args)
        report = run_evaluate(args.data, args.out, config, model=args.model, searchsage=args.searchsage,
                              entities=args.enriched, baselines=baselines, command=command, readme=args.readme)  # fmt: skip
        print(headline(report))
        print(f"ok: report in {args.out}/report.md (+ report.json, ranks.parquet, plots)")
        return 0

    p.set_defaults(func=run)


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
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        from omnisage.config import load_config
        from omnisage.train.run import train_model

        config = load_config(args.config, args.overrides)
        summary = train_model(
            args.data, args.out, config, enriched=args.enriched, progress=not args.no_progress
        )
        if "model_dir" in summary:
            losses = ", ".join(f"{k} {v:.3f}" for k, v in summary["final_losses"].items())
            print(f"loss: {losses}")
            print(
                f"ok: {summary['steps']} steps, {summary['pairs_per_second']:,.0f} pairs/s ({summary['precision']}); "
                f"model in {summary['model_dir']}"
            )
        return 0

    p.set_defaults(func=run)


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
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (variants, ranks, report)")
    p.add_argument(
        "--readme", metavar="FILE", help="also write the results into this README's Results section"
    )
    p.add_argument(
        "--train-only",
        metavar="NAMES",
        help="only train (or resume) these variants, comma-separated, and stop: run several such commands "
        "side by side on one --out, then a plain `ablate` ranks them and writes the report (variants: "
        "full, searchsage, no_compat, continuous, no_captions, text, boards, and per task of pin, product, "
        "query: TASK_only, TASK_only_share)",
    )
    _add_config_args(p)

    def run(args: argparse.Namespace) -> int:
        from omnisage.experiments.ablations import run_ablate, train_only

        if args.train_only is not None:
            names = [n.strip() for n in args.train_only.split(",") if n.strip()]
            bundles = train_only(
                args.data, args.out, args.config, args.overrides, names=names, entities=args.enriched
            )
            done = ", ".join(b.parent.name for b in bundles) or "none (all locked by other processes)"
            print(f"ok: variants ready in {args.out}/variants: {done}")
            return 0
        tables = [t.strip() for t in args.tables.split(",") if t.strip()]
        command = _command_line(args)
        run_ablate(args.data, args.out, args.config, args.overrides, tables=tables, entities=args.enriched,
                   command=command, readme=args.readme)  # fmt: skip
        with open(f"{args.out}/ablations.md", encoding="utf-8") as fh:
            print(fh.read())
        return 0

    p.set_defaults(func=run)


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
        _add_config_args(q, default="bench")

    def run(args: argparse.Namespace) -> int:
        from omnisage.experiments.product_search import read_sources, run_benchmark

        if args.source == "homedepot":
            data, test = read_sources("homedepot", data=args.data, test=args.test, lenient=not args.strict)
        else:
            locales = tuple(x.strip() for x in args.locales.split(",")) if args.locales else None
            data, test = read_sources("esci", examples=args.examples, products=args.products, locales=locales,
                                      small_version=args.small_version, published_split=args.published_split,
                                      lenient=not args.strict)  # fmt: skip
        out = args.out or f"bench_out/{args.source}"
        command = _command_line(args)
        run_benchmark(data, out, args.config, args.overrides, test=test, save_model=args.save_model,
                      cache_dir=args.cache, command=command, progress=not args.no_progress)  # fmt: skip
        with open(f"{out}/report.md", encoding="utf-8") as fh:
            print(fh.read())
        return 0

    p.set_defaults(func=run)


REGISTRARS: list[Registrar] = [
    _synth, _validate, _enrich, _train, _embed, _index, _serve, _search, _evaluate, _ablate, _bench,
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


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed (or as a script passed it to `main`), for reports to say what produced them."""
    return "omnisage " + shlex.join(args.argv)


def main(argv: list[str] | None = None) -> int:
    from omnisage import progress

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    # --no-progress silences every bar of the run, the stage's own and the evaluation's
    progress.ENABLED = not getattr(args, "no_progress", False)
    try:
        return int(args.func(args) or 0)
    except OmniSageError as exc:
        print(f"omnisage {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"omnisage {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        progress.ENABLED = True


if __name__ == "__main__":
    sys.exit(main())
