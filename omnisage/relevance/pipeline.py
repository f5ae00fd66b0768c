"""`omnisage relevance`: human labels in, a teacher, silver labels, and a served student out.

labels (+ the enriched table) → gold pairs with item text, each query with its nearest labelled queries
(query_context.py) → teacher → the first stage's candidates for every query (held-out ones excluded), sampled to
`silver_share` × gold → silver labels → student features → the student (gold + silver; beside it the gold-only
student, for the comparison) → on held-out labels, the report. Each stage writes into OUT and is reused when a
rerun finds it finished (the teacher and the labelling resume mid-way).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import RelevanceConfig
from omnisage.data.scale import RelevanceScale
from omnisage.relevance.crossfit import CrossFit
from omnisage.relevance.features import ItemFeatures, query_vectors
from omnisage.relevance.pairs import KEY, drop_queries, gold_pairs, sample_silver, with_item_text
from omnisage.relevance.query_context import QueryContext
from omnisage.relevance.silver import candidate_pairs, label_pairs, read_silver
from omnisage.relevance.student import Student, StudentTargets, concat_targets, load_student, train_student
from omnisage.relevance.teacher import load_teacher, table_digest, train_teacher

Log = Any  # a print-like callable


@dataclass
class Catalog:
    """The model's view of the items: the enriched rows, our item vectors, and the student's item features."""

    entities: pa.Table
    vectors: np.ndarray  # (N, D)
    features: ItemFeatures
    legacy_dim: int
    # Set when the engagement logs were made from the labels (Home Depot, ESCI): training pairs then read the
    # catalog without their own query's engagements (crossfit.py).
    crossfit: CrossFit | None = None

    @classmethod
    def build(cls, model: Any, entities: pa.Table, *, labels_in_logs: bool = False) -> Catalog:
        vectors = np.asarray(model.encode_entities(entities), np.float32)
        crossfit = CrossFit(model, entities, vectors) if labels_in_logs else None
        features = ItemFeatures.build(entities, vectors)
        return cls(entities, vectors, features, int(model.config.legacy_dim), crossfit)

    def pair_features(self, model: Any, pairs: pa.Table, *, training: bool = False) -> np.ndarray:
        """(n, F) student features of (query_text, entity_type, entity_id) pairs; `training` pairs are labelled
        ones (gold or silver) that the student or a calibration learns from."""
        texts = pairs.column("query_text").to_pylist()
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        vectors, legacy = query_vectors(model, list(unique), self.legacy_dim)
        vectors, legacy = vectors[inverse], None if legacy is None else legacy[inverse]
        if training and self.crossfit is not None:
            return self.crossfit.features(pairs, vectors, legacy)
        rows = self.features.rows(
            pairs.column("entity_type").to_pylist(), pairs.column("entity_id").to_pylist()
        )
        return self.features.batch_features(texts, vectors, rows, legacy)

    def training_text(self, pairs: pa.Table) -> pa.Table:
        """Labelled pairs with the teacher's item text as training may see it (see `crossfit`)."""
        if self.crossfit is None or pairs.num_rows == 0:
            return pairs
        at = pairs.column_names.index("item_text")
        return pairs.set_column(at, "item_text", pa.array(self.crossfit.texts(pairs), pa.string()))


def silver_candidates(
    model: Any, catalog: Catalog, queries: list[str], gold: pa.Table, cfg: RelevanceConfig
) -> pa.Table:
    """The first stage's top `silver_candidates` of each query, minus the gold pairs, sampled to
    `silver_share` × the gold count, with their item text."""
    n = round(cfg.silver_share * gold.num_rows)
    if n == 0 or not queries:
        return gold.select(list(KEY)).slice(0, 0).append_column("item_text", pa.array([], pa.string()))
    vectors = np.asarray(model.encode_queries(queries), np.float32)
    ids = catalog.entities
    found = candidate_pairs(
        queries, vectors, ids.column("entity_type").to_pylist(), ids.column("entity_id").to_pylist(),
        catalog.vectors, cfg.silver_candidates, exclude=gold.select(list(KEY)),
    )  # fmt: skip
    picked = sample_silver(found.select(list(KEY)), n, cfg.seed)
    return catalog.training_text(with_item_text(picked, catalog.entities, what="candidates"))


def train_students(
    model: Any, catalog: Catalog, gold: pa.Table, silver: pa.Table, scale: RelevanceScale,
    cfg: RelevanceConfig, out: Path, *, log: Log = print,
) -> dict[str, Student]:  # fmt: skip
    """The student on gold + silver (OUT/student, the one to serve) and on gold only (OUT/student_gold)."""
    students = {}
    gold_x = catalog.pair_features(model, gold, training=True)
    gold_y = StudentTargets(gold.column("label").to_numpy().astype(np.float64))
    names = catalog.features.names
    for name, with_silver in (("student_gold", False), ("student", True)):
        folder = out / name
        inputs = _student_inputs(model, gold, silver if with_silver else None, scale, cfg)
        if (folder / "student.json").is_file():
            found = load_student(folder)
            if found.inputs == inputs:
                students[name] = found
                continue
            log(f"== {name}: {folder} was trained from other labels, model or settings; training it again")
        x, y = gold_x, gold_y
        if with_silver and silver.num_rows:
            probs = silver.column("probs")
            silver_y = StudentTargets(
                silver.column("score").to_numpy().astype(np.float64),
                np.asarray(probs.to_pylist(), np.float32) if probs.null_count == 0 else None,
            )
            x = np.concatenate([gold_x, catalog.pair_features(model, silver, training=True)])
            y = concat_targets([gold_y, silver_y], scale)
        log(f"== {name}: {len(x):,} pairs ({gold.num_rows:,} gold)")
        student = train_student(x, y, scale, cfg, feature_names=names, log=log)
        student.model_version = getattr(model, "version", None)  # its features are this model's embeddings
        student.inputs = inputs
        student.save(folder)
        students[name] = student
    return students


def _student_inputs(
    model: Any, gold: pa.Table, silver: pa.Table | None, scale: RelevanceScale, cfg: RelevanceConfig
) -> str:
    """What a student is trained from, as a digest: a finished student is reused only when it matches."""
    labels = [table_digest(gold, [*KEY, "label"])]
    if silver is not None and silver.num_rows:
        labels.append(table_digest(silver, [*KEY, "score"]))
    settings = [cfg.student_hidden, cfg.student_epochs, cfg.student_lr, cfg.seed]
    what = [getattr(model, "version", None), labels, scale.to_json(), settings]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def run_relevance(
    gold_labels: pa.Table, scale: RelevanceScale, entities: pa.Table, model: Any, queries: list[str],
    out: str | Path, cfg: RelevanceConfig, *, heldout_queries: list[str] | None = None,
    labels_in_logs: bool = False, progress: bool = True, log: Log = print,
) -> tuple[Any, dict[str, Student], Catalog]:  # fmt: skip
    """Teacher, silver labels and students from the labels of training queries; `queries` are the ones whose
    first-stage candidates get silver labels (held-out queries are dropped from both). `labels_in_logs`: the
    engagements were derived from these labels, so training inputs hide their own query's (`crossfit`)."""
    out = Path(out)
    held = heldout_queries or []
    catalog = Catalog.build(model, entities, labels_in_logs=labels_in_logs)
    gold = catalog.training_text(gold_pairs(drop_queries(gold_labels, held), entities))
    log(f"== teacher: {gold.num_rows:,} human labels on the {scale.kind} scale")
    gold_queries = gold.column("query_text").to_pylist()
    context = QueryContext(model, gold_queries, cfg.teacher_query_neighbors)
    teacher_pairs = pa.table({
        "query_text": context.texts(gold_queries),
        "item_text": gold.column("item_text"),
        "label": gold.column("label"),
    })  # fmt: skip
    teacher_dir = train_teacher(teacher_pairs, scale, out / "teacher", cfg, progress=progress, log=log)
    teacher = load_teacher(teacher_dir)
    teacher.context = context
    silver_queries = sorted(set(queries) - set(held))
    silver_dir = out / "silver"
    if cfg.silver_share > 0:
        pairs = silver_candidates(model, catalog, silver_queries, gold, cfg)
        log(f"== silver: the teacher labels {pairs.num_rows:,} first-stage candidates")
        label_pairs(teacher, pairs, silver_dir, progress=progress, log=log)
        silver = read_silver(silver_dir)
    else:
        silver = pa.table({k: pa.array([], pa.string()) for k in KEY})
    students = train_students(model, catalog, gold, silver, scale, cfg, out, log=log)
    return teacher, students, catalog


def query_languages(labels: pa.Table) -> list[str]:
    lang = labels.column("lang") if "lang" in labels.column_names else pa.nulls(labels.num_rows, pa.string())
    return pc.fill_null(lang, "unknown").to_pylist()


def read_entities(path: str | Path) -> pa.Table:
    return pq.read_table(path)
