"""The benchmark's relevance stage: the relevance model trained on the training queries' human labels, reported
on the held-out queries' labels, and the two-stage search it makes with the full model's first stage.

`relevance.{mean,bm25,cosine,teacher,student_gold,student}.{rmse,accuracy,ndcg10}` on every judged pair of the
held-out queries; `two_stage.{first_stage,student,teacher}.recall10` on the product task's held-out pairs against
the same random corpus as every other row. The teacher scores ~60 pairs/s on a CPU core, so its re-ranking runs
on a seeded sample of `TEACHER_PAIRS` pairs, with the first stage and the student on the same sample beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from omnisage.config import Config
from omnisage.data.judgments import relevance_labels
from omnisage.eval.metrics import recall_with_ci
from omnisage.eval.protocol import EvalSet
from omnisage.eval.systems import model_system
from omnisage.experiments.split import BenchSplit
from omnisage.relevance.itemtext import item_texts
from omnisage.relevance.pairs import drop_queries
from omnisage.relevance.pipeline import Catalog, run_relevance
from omnisage.relevance.run import evaluate_heldout
from omnisage.relevance.two_stage import two_stage_ranks

TEACHER_PAIRS = (
    300  # held-out product pairs the teacher re-ranks (CPU cost: pairs × candidates teacher calls)
)
Log = Any


def student_reranker(evalset: EvalSet, query_vectors: np.ndarray, catalog: Catalog, student: Any):
    texts = evalset.queries
    legacy_dim = catalog.legacy_dim
    legacy = None
    if 0 < legacy_dim <= query_vectors.shape[1]:
        prefix = query_vectors[:, :legacy_dim]
        legacy = prefix / np.maximum(np.linalg.norm(prefix, axis=1, keepdims=True), 1e-12)

    def rerank(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        out = np.empty(candidates.shape, np.float64)
        for i, row in enumerate(rows):
            ids = evalset.entity_ids[candidates[i]].tolist()
            items = catalog.features.rows([evalset.task] * len(ids), ids)
            side = catalog.features.query_side(
                texts[row], query_vectors[row], None if legacy is None else legacy[row]
            )
            out[i] = student.predict(catalog.features.pair_features(side, items))
        return out

    return rerank


def _teacher_reranker(evalset: EvalSet, catalog: Catalog, teacher: Any):
    index = {key: i for i, key in enumerate(catalog.entities.column("entity_id").to_pylist())}
    texts = evalset.queries

    def rerank(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        ids = evalset.entity_ids[candidates].ravel().tolist()
        items = item_texts(catalog.entities.take(np.array([index[i] for i in ids])))
        queries = np.repeat(np.asarray(texts, dtype=object)[rows], candidates.shape[1]).tolist()
        return teacher.predict(queries, items).score.reshape(candidates.shape)

    return rerank


def two_stage(
    evalset: EvalSet, model: Any, catalog: Catalog, teacher: Any, student: Any, n: int, seed: int, *, log: Log
) -> dict[str, Any]:
    """Recall@10 (with 95% intervals) of the first stage alone, re-ranked by the student, and — on a sample —
    by the teacher."""
    scorer = model_system(model).scorer(evalset)
    student_rerank = student_reranker(evalset, scorer.query_vectors, catalog, student)
    out: dict[str, Any] = {"candidates": n, "pairs": len(evalset.positives)}
    for name, rerank in (("first_stage", None), ("student", student_rerank)):
        out[name] = {"recall10": recall_with_ci(two_stage_ranks(scorer, evalset, rerank, n), 10)}
    rows = np.sort(np.random.default_rng(seed).permutation(len(evalset.positives))[:TEACHER_PAIRS])
    log(f"== two-stage: the teacher re-ranks the top {n} of {len(rows)} sampled pairs")
    sample = {"pairs": len(rows)}
    for name, rerank in (("first_stage", None), ("student", student_rerank),
                         ("teacher", _teacher_reranker(evalset, catalog, teacher))):  # fmt: skip
        sample[name] = {
            "recall10": recall_with_ci(two_stage_ranks(scorer, evalset, rerank, n, rows=rows), 10)
        }
    out["teacher_sample"] = sample
    out["teacher"] = sample["teacher"]
    return out


def relevance_stage(
    split: BenchSplit, entities: Any, bundle: Path, evalset: EvalSet | None, out: Path, config: Config,
    *, progress: bool, log: Log,
) -> dict[str, Any]:  # fmt: skip
    """Train the relevance model on the training labels, report it on the held-out ones, and the two stages."""
    from omnisage.eval.run import load_bundle

    model = load_bundle(bundle)
    gold = relevance_labels(split.training.judgments)
    heldout = relevance_labels(split.heldout_judged)
    held = sorted(set(heldout.column("query_text").to_pylist()))
    queries = sorted(set(gold.column("query_text").to_pylist()))
    teacher, students, catalog = run_relevance(
        gold, split.training.scale, entities, model, queries, out / "relevance", config.relevance,
        heldout_queries=held, labels_in_logs=True, progress=progress, log=log,
    )  # fmt: skip
    log(f"== relevance report: {heldout.num_rows:,} held-out labels")
    report: dict[str, Any] = {
        "relevance": evaluate_heldout(
            heldout, drop_queries(gold, held), split.training.scale, model, teacher, students, catalog
        )
    }
    if evalset is not None:
        n = config.relevance.rerank_candidates
        report["two_stage"] = two_stage(evalset, model, catalog, teacher, students["student"], n,
                                        config.relevance.seed, log=log)  # fmt: skip
    return report
