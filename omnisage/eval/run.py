"""`omnisage evaluate`: a data directory, trained model bundles and baselines in; a Recall@k report out.

Systems, in report order: the model's learned towers (`omnisage`), its compatibility towers
(`omnisage-compat`), SearchSage (a bundle trained with `train.towers=["legacy"]`), then the baselines named
in `eval.baselines`. With the world's `truth/` folder, the downstream interest classification runs too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnisage.config import Config
from omnisage.errors import DataError, OmniSageError
from omnisage.eval.evaluate import evaluate_systems
from omnisage.eval.protocol import load_eval_sets
from omnisage.eval.systems import System, compatibility_system, model_system

KNOWN_BASELINES = ("random", "bm25", "bm25_enriched", "zero_shot")


def load_entities(data_dir: str | Path, entities: str | Path | None) -> pa.Table:
    """The enriched entity table: `entities` (a file or the `omnisage enrich` output folder), else the one
    in the data directory."""
    from omnisage.train.catalog import find_enriched, read_enriched

    path = Path(entities) if entities is not None else find_enriched(data_dir)
    if path is not None and path.is_dir():  # an enrich output folder, or a folder of Parquet parts
        path = find_enriched(path) or path
    if path is None or not path.exists():
        raise DataError(
            "no enriched entity table: pass --enriched (the output of `omnisage enrich`)", path=str(data_dir)
        )
    return read_enriched(path)


def load_bundle(path: str | Path) -> Any:
    if not Path(path).is_dir():
        raise OmniSageError(f"model bundle not found: {path}")
    from omnisage.model.bundle import load_model

    return load_model(path)


def model_legacy_dim(model: Any, default: int) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "legacy_dim", default))


def baseline_systems(names: Sequence[str], config: Config) -> list[System]:
    from omnisage.eval.baselines import BM25System, RandomSystem, zero_shot_system

    unknown = sorted(set(names) - set(KNOWN_BASELINES))
    if unknown:
        raise OmniSageError(f"unknown baseline {unknown} (known: {', '.join(KNOWN_BASELINES)})")
    cfg = config.eval
    makers: dict[str, Callable[[], System]] = {
        "random": lambda: RandomSystem(seed=cfg.seed),
        "bm25": lambda: BM25System(cfg.baseline_fields),
        "bm25_enriched": lambda: BM25System(config.model.text_fields, name="bm25_enriched"),
        "zero_shot": lambda: zero_shot_system(cfg.baseline_fields),
    }
    return [makers[name]() for name in names]


def model_systems(model: Any, name: str, legacy_dim: int, learned: bool = True) -> list[System]:
    """A bundle's learned towers (when trained) and its compatibility towers (`<name>-compat`)."""
    out: list[System] = [model_system(model, name)] if learned else []
    out.append(compatibility_system(model, legacy_dim, f"{name}-compat" if learned else name))
    return out


def training_logs(bundles: dict[str, Path]) -> dict[str, Path]:
    """name -> metrics.jsonl of the training run that wrote each bundle (the folder above `model/`)."""
    from omnisage.train.loop import METRICS

    out = {}
    for name, bundle in bundles.items():
        for folder in (Path(bundle), Path(bundle).parent):
            if (folder / METRICS).is_file():
                out[name] = folder / METRICS
                break
    return out


def run_evaluate(
    data: str | Path,
    out: str | Path,
    config: Config,
    *,
    model: str | Path | None = None,
    searchsage: str | Path | None = None,
    entities: str | Path | None = None,
    baselines: Sequence[str] | None = None,
    command: str = "omnisage evaluate",
    plots: bool = True,
    readme: str | Path | None = None,
) -> dict:
    """Evaluate every system on the same held-out pairs and corpora; write the report into `out`."""
    from omnisage.eval.downstream import interest_classification
    from omnisage.eval.plots import plot_training
    from omnisage.eval.report import evaluation_report, headline, update_readme, write_evaluation

    cfg = config.eval
    table = load_entities(data, entities)
    systems: list[System] = []
    bundles: dict[str, Path] = {}
    primary_model = None
    if model is not None:
        primary_model = load_bundle(model)
        bundles["omnisage"] = Path(model)
        systems += model_systems(
            primary_model, "omnisage", model_legacy_dim(primary_model, config.model.legacy_dim)
        )
    if searchsage is not None:
        baseline_model = load_bundle(searchsage)
        bundles["searchsage"] = Path(searchsage)
        legacy_dim = model_legacy_dim(baseline_model, config.model.legacy_dim)
        systems += model_systems(baseline_model, "searchsage", legacy_dim, learned=False)
    systems += baseline_systems(cfg.baselines if baselines is None else baselines, config)
    if not systems:
        raise OmniSageError("nothing to evaluate: pass --model, --searchsage or baselines")
    sets, windows = load_eval_sets(data, table, cfg)
    if not sets:
        raise DataError("no engagement pairs in the evaluation window", path=str(data))
    ev = evaluate_systems(systems, sets, windows, cfg)
    report, ranks = evaluation_report(ev, cfg, command=command)
    truth = Path(data) / "truth"
    if primary_model is not None and (truth / "query_interests.parquet").is_file():
        report["downstream"] = interest_classification(truth, primary_model.encode_queries, cfg)
    write_evaluation(out, report, ranks, plots=plots)
    logs = training_logs(bundles)
    if plots and logs:
        plot_training(logs, Path(out) / "training_curves.png")
    if readme is not None:
        update_readme(readme, "evaluate", headline(report), command)
    return report
