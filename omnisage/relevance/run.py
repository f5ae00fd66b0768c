"""`omnisage relevance`: the whole relevance path on a data directory, and its report on held-out labels."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.atomic import write_text
from omnisage.config import Config
from omnisage.data.io import find_table, read_table
from omnisage.data.scale import RelevanceScale
from omnisage.relevance.evaluate import markdown, predictions, report_for
from omnisage.relevance.pairs import drop_queries, read_labels
from omnisage.relevance.pipeline import Catalog, query_languages, run_relevance
from omnisage.schema import QUERIES

Log = Any


def world_queries(data: Path, labels: pa.Table) -> list[str]:
    """Every query of the data directory (all languages), or the labelled ones when it has no queries table."""
    path = find_table(data, "queries")
    table = read_table(path, QUERIES) if path is not None else labels
    return sorted(set(table.column("query_text").to_pylist()))


def evaluate_heldout(
    heldout: pa.Table, gold: pa.Table, scale: RelevanceScale, model: Any, teacher: Any,
    students: dict[str, Any], catalog: Catalog,
) -> dict[str, Any]:  # fmt: skip
    """The relevance report of every system on the held-out labels (the calibrated features fit on `gold`)."""
    train_x = catalog.pair_features(model, gold, training=True)
    x = catalog.pair_features(model, heldout)
    preds = predictions(
        heldout, train_x=train_x, train_y=gold.column("label").to_numpy(), x=x, names=catalog.features.names,
        scale=scale, teacher=teacher, students=students, entities=catalog.entities,
    )  # fmt: skip
    queries = np.asarray(heldout.column("query_text").to_pylist(), dtype=object)
    return report_for(preds, heldout.column("label").to_numpy(), queries, query_languages(heldout), scale)


def relevance_job(
    data: str | Path, entities: pa.Table, model_dir: str | Path, out: str | Path, config: Config, *,
    eval_labels: str | Path | None = None, progress: bool = True, log: Log = print,
) -> dict[str, Any]:  # fmt: skip
    """Teacher, silver labels and students from DATA's relevance labels; with `eval_labels` (a labels file on
    the same scale), the report in OUT/report.{json,md}. Returns the summary written to OUT/relevance.json."""
    from omnisage.model.bundle import load_model

    data, out = Path(data), Path(out)
    started = time.perf_counter()
    labels, scale = read_labels(data)
    heldout = read_labels(eval_labels, scale=scale)[0] if eval_labels is not None else None
    held = sorted(set(heldout.column("query_text").to_pylist())) if heldout is not None else []
    model = load_model(model_dir)
    teacher, students, catalog = run_relevance(
        labels, scale, entities, model, world_queries(data, labels), out, config.relevance,
        heldout_queries=held, progress=progress, log=log,
    )  # fmt: skip
    summary: dict[str, Any] = {
        "scale": scale.to_json(),
        "labels": labels.num_rows,
        "student": str(out / "student"),
    }
    if heldout is not None:
        gold = drop_queries(labels, held)
        log(f"== report: {heldout.num_rows:,} held-out labels")
        report = evaluate_heldout(heldout, gold, scale, model, teacher, students, catalog)
        write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        write_text(out / "report.md", markdown(report))
        summary["report"] = report
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_text(
        out / "relevance.json", json.dumps({k: v for k, v in summary.items() if k != "report"}, indent=2)
    )
    return summary
