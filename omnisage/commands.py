"""What each `omnisage` command does with its parsed arguments: call its stage, print what it made.

`cli.py` holds the parsers (every flag and help text) and dispatches here; each command imports its stage only
when it runs, so `omnisage --help` stays instant.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (or as a script passed it to `main`), for reports to say what produced them."""
    return "omnisage " + shlex.join(args.argv)


def synth_command(args: argparse.Namespace) -> int:
    import dataclasses

    from omnisage.config import load_config
    from omnisage.synth.world import format_summary, generate_world

    config = load_config(args.config, args.overrides).synth
    given = {"pins": args.scale, "seed": args.seed}
    config = dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
    summary = generate_world(config, args.out, progress=sys.stderr.isatty() and not args.no_progress)
    print(format_summary(summary))
    print(f"ok: wrote a world of {config.pins:,} pins (seed {config.seed}) to {args.out}")
    return 0


def validate_command(args: argparse.Namespace) -> int:
    from omnisage.data.validate import validate_world

    counts = validate_world(args.directory)
    width = max(len(n) for n in counts)
    for name, n in counts.items():
        print(f"  {name:<{width}}  {n:>12,} rows")
    print(f"ok: {len(counts)} tables valid in {args.directory}")
    return 0


def enrich_command(args: argparse.Namespace) -> int:
    import dataclasses

    from omnisage.config import load_config
    from omnisage.features.enriched import format_report, parse_as_of, run_enrich

    full = load_config(args.config, args.overrides)
    config = full.enrich
    if args.engine:
        config = dataclasses.replace(config, engine=args.engine)
    report = run_enrich(
        args.data, parse_as_of(args.as_of), args.out, config, state_path=args.state, spark_config=full.spark
    )
    print(format_report(report))
    print(f"ok: wrote {args.out}/enriched_entities.parquet and {args.out}/coverage.json")
    return 0


def embed_command(args: argparse.Namespace) -> int:
    import dataclasses

    from omnisage.config import load_config
    from omnisage.infer.embed import embed_all, parse_shard, resolve_input
    from omnisage.model.bundle import load_model

    full = load_config(args.config, args.overrides)
    config = full.infer
    if args.engine:
        config = dataclasses.replace(config, engine=args.engine)
    shard = parse_shard(args.shard)
    enriched = resolve_input(args.enriched, "enriched_entities")
    queries = resolve_input(args.queries, "queries")
    if config.engine == "spark":
        from omnisage.infer.embed_spark import embed_all_spark

        report = embed_all_spark(
            args.model, args.out, config, enriched, queries, shard, spark_config=full.spark
        )
    else:
        report = embed_all(load_model(args.model), args.out, config, enriched, queries, shard)
    print(
        f"ok: {report.rows:,} rows embedded in {report.parts_done} new parts "
        f"({report.parts_skipped} already done) -> {args.out}"
    )
    return 0


def index_command(args: argparse.Namespace) -> int:
    from omnisage.config import load_config
    from omnisage.index.catalog import build_indexes

    config = load_config(args.config, args.overrides).index
    built = build_indexes(args.embeddings, args.out, config, args.world, args.enriched)
    for name, stats in built.stats.items():
        print(
            f"  {name:<15} {stats['count']:>10,} vectors  {built.indexes[name].kind}  "
            + "  ".join(f"{k} {v}" for k, v in stats.items() if k != "count")
        )
    if built.items is not None:
        print(f"  items: display fields of {', '.join(sorted(built.items.rows))} in {args.out}/items")
    print(f"ok: indexes of model {built.model_version} in {args.out}")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from omnisage.config import load_config

    full = load_config(args.config, args.overrides)
    given = {"host": args.host, "port": args.port, "redis_url": args.redis}
    config = dataclasses.replace(full.serve, **{k: v for k, v in given.items() if v is not None})
    # NumPy's BLAS (the relevance student's matrix products) gets serve.threads threads, like the encoder, unless
    # the environment says otherwise. It reads these once, when NumPy first loads (below, unless a caller in this
    # process loaded it already). The default student is too small for BLAS to thread, but a 256-wide one took
    # 0.65 ms for 200 rows on one thread and 1.1 and 64 ms on both cores of a busy 2-core machine (docs/serving.md).
    if "numpy" not in sys.modules:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(config.threads))
    from omnisage.serve.server import serve

    serve(args.model, args.indexes, config, args.student, full.relevance.rerank_candidates)
    return 0


def search_command(args: argparse.Namespace) -> int:
    from omnisage.serve.client import format_results, search, titles, wait_until_up

    if args.wait > 0:
        wait_until_up(args.url, args.wait)
    names = titles(args.world)
    for query in args.queries:
        print(format_results(search(args.url, query, args.k, args.type), names))
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from omnisage.config import load_config
    from omnisage.eval.report import headline
    from omnisage.eval.run import run_evaluate

    config = load_config(args.config, args.overrides)
    baselines = (
        None if args.baselines is None else [b.strip() for b in args.baselines.split(",") if b.strip()]
    )
    command = command_line(args)
    report = run_evaluate(args.data, args.out, config, model=args.model, searchsage=args.searchsage,
                          entities=args.enriched, baselines=baselines, command=command, readme=args.readme)  # fmt: skip
    print(headline(report))
    print(f"ok: report in {args.out}/report.md (+ report.json, ranks.parquet, plots)")
    return 0


def train_command(args: argparse.Namespace) -> int:
    from omnisage.config import load_config
    from omnisage.train.run import train_model

    config = load_config(args.config, args.overrides)
    summary = train_model(args.data, args.out, config, enriched=args.enriched, progress=not args.no_progress)
    if "model_dir" in summary:
        losses = ", ".join(f"{k} {v:.3f}" for k, v in summary["final_losses"].items())
        print(f"loss: {losses}")
        print(
            f"ok: {summary['steps']} steps, {summary['pairs_per_second']:,.0f} pairs/s ({summary['precision']}); "
            f"model in {summary['model_dir']}"
        )
    return 0


def relevance_command(args: argparse.Namespace) -> int:
    from omnisage.config import load_config
    from omnisage.eval.run import load_entities
    from omnisage.relevance.run import relevance_job

    config = load_config(args.config, args.overrides)
    entities = load_entities(args.data, args.enriched)
    summary = relevance_job(args.data, entities, args.model, args.out, config, eval_labels=args.eval_labels,
                            progress=not args.no_progress)  # fmt: skip
    if "report" in summary:
        for name, metrics in summary["report"]["all"].items():
            if " - " in name:  # the differences are in the report
                continue
            print(f"{name:>12}: " + ", ".join(f"{m} {v[0]:.3f}" for m, v in metrics.items()))
    print(f"ok: student in {summary['student']} ({summary['seconds']:.0f} s)")
    return 0


def ablate_command(args: argparse.Namespace) -> int:
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
    command = command_line(args)
    run_ablate(args.data, args.out, args.config, args.overrides, tables=tables, entities=args.enriched,
               command=command, readme=args.readme)  # fmt: skip
    with open(f"{args.out}/ablations.md", encoding="utf-8") as fh:
        print(fh.read())
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from omnisage.experiments.product_search import read_sources, run_benchmark

    if args.source == "homedepot":
        data, test = read_sources("homedepot", data=args.data, test=args.test, lenient=not args.strict)
    else:
        locales = tuple(x.strip() for x in args.locales.split(",")) if args.locales else None
        data, test = read_sources("esci", examples=args.examples, products=args.products, locales=locales,
                                  small_version=args.small_version, published_split=args.published_split,
                                  lenient=not args.strict)  # fmt: skip
    out = args.out or f"bench_out/{args.source}"
    command = command_line(args)
    run_benchmark(data, out, args.config, args.overrides, test=test, save_model=args.save_model,
                  cache_dir=args.cache, command=command, progress=not args.no_progress)  # fmt: skip
    with open(f"{out}/report.md", encoding="utf-8") as fh:
        print(fh.read())
    return 0
