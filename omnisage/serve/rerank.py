"""The second stage of `/v1/search` and `/v1/score`: the relevance student re-scores the first stage's candidates.

A `Reranker` is one student with the item side of its features (`ItemFeatures`), built from the index set it
serves with: the texts, engagement and legacy vectors of `items/*.parquet`, and our item vectors as the indexes
hold them (`IndexedVectors`: gathered per request, never copied). It is part of a service snapshot, so a hot
swap replaces it with the model and indexes.
The features are the offline ones (`omnisage.relevance.features`): one code path, no train/serve skew. That
module brings PyTorch along (through the model's feature code), so it is imported only when a student loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.errors import DataError, OmniSageError
from omnisage.index.catalog import IndexSet
from omnisage.index.display import RELEVANCE_COLUMNS, relevance_table
from omnisage.index.store import VectorIndex
from omnisage.relevance.student import MANIFEST, WEIGHTS, Student, load_student
from omnisage.schema import ITEM_TYPES

if TYPE_CHECKING:
    from omnisage.relevance.features import ItemFeatures, QuerySide

# The student scores pins and products; related queries and the legacy indexes keep the first stage's order.
RERANKED = ITEM_TYPES


class UnknownItem(LookupError):
    """An item the served catalog does not hold was to be scored."""


def student_version(folder: str | Path) -> str:
    """The student's content hash (its manifest and weights): 16 hex digits, like a bundle's version."""
    digest = hashlib.sha256()
    for name in (MANIFEST, WEIGHTS):
        digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Reranker:
    """A student and the item features of the index set it re-ranks."""

    student: Student
    features: ItemFeatures
    version: str  # the student's (`student_version`)
    legacy_dim: int  # the model's compatibility prefix; 0 = the model has no legacy task
    candidates: int  # the first stage's top N per type that `/v1/search` re-ranks

    @classmethod
    def build(
        cls, student: Student, version: str, entities: pa.Table, vectors: Any, legacy_dim: int,
        candidates: int,
    ) -> Reranker:  # fmt: skip
        """From enriched-table rows of the indexed items and their (N, D) vectors in the same order (an array or
        `IndexedVectors`); an OmniSageError in one line when the student reads other features than the served
        ones, or the items' legacy vectors do not fit the model's compatibility prefix."""
        from omnisage.relevance.features import ItemFeatures

        features = ItemFeatures.build(entities, vectors)
        if student.feature_names != features.names:
            raise OmniSageError(
                f"the student reads {len(student.feature_names)} features, the served ones are "
                f"{len(features.names)} ({_first_difference(student, features)})"
            )
        items_legacy = features.legacy.shape[1]
        if 0 < legacy_dim <= vectors.shape[1] and items_legacy not in (0, legacy_dim):
            raise OmniSageError(
                f"the items' legacy vectors are {items_legacy}-d, the model's compatibility prefix {legacy_dim}-d"
            )
        return cls(student, features, version, legacy_dim, candidates)

    def query_side(self, query: str, vector: np.ndarray) -> QuerySide:
        """One normalized query and its (D,) embedding, with its compatibility prefix as training made it."""
        from omnisage.model.compatibility import prefix_numpy  # loaded with the features (build)

        legacy = None
        if 0 < self.legacy_dim <= len(vector):
            legacy = prefix_numpy(vector[None, :], self.legacy_dim)[0]  # (L,) unit
        return self.features.query_side(query, vector, legacy)

    def rows(self, kinds: Sequence[str], ids: Sequence[str]) -> np.ndarray:
        """(n,) catalog rows of (type, id) items; an UnknownItem names the first one the catalog lacks."""
        try:
            return self.features.rows(kinds, ids)
        except DataError as exc:
            i = (exc.row or 1) - 1
            raise UnknownItem(f"items[{i}]: no {kinds[i]} {ids[i]!r} in the served catalog") from None

    def score(self, side: QuerySide, rows: np.ndarray) -> np.ndarray:
        """(n,) catalog rows -> (n,) float64 expected labels on the student's scale."""
        if not len(rows):
            return np.zeros(0, np.float64)
        return self.student.predict(self.features.pair_features(side, rows))  # (n, F) -> (n,)

    def rerank(
        self, side: QuerySide, candidates: dict[str, list[tuple[str, float]]], k: int
    ) -> dict[str, list[dict[str, Any]]]:
        """Each type's first-stage (id, score) candidates -> its top k by the student's score (first-stage
        order breaks ties), each hit with `score` (stage one) and `relevance`. One student call for all."""
        kinds = [kind for kind, hits in candidates.items() for _ in hits]
        ids = [i for hits in candidates.values() for i, _ in hits]
        relevance = self.score(side, self.rows(kinds, ids))  # (n,)
        out, start = {}, 0
        for kind, hits in candidates.items():
            mine = relevance[start : start + len(hits)]
            start += len(hits)
            order = np.argsort(-mine, kind="stable")[:k]
            out[kind] = [
                {"id": hits[r][0], "score": round(hits[r][1], 6), "relevance": round(float(mine[r]), 6)}
                for r in order.tolist()
            ]
        return out


def _check_layers(student: Student) -> None:
    """ValueError unless the layers chain from the student's F features to its outputs (checked at load: a
    request must never be the first to find out)."""
    width = len(student.feature_names)
    if student.mean.shape != (width,) or student.std.shape != (width,) or not student.weights:
        raise ValueError(f"standardization or layers do not fit {width} features")
    for i, (w, b) in enumerate(zip(student.weights, student.biases, strict=True)):
        if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
            raise ValueError(f"layer {i} is {w.shape} with bias {b.shape}, after a {width}-wide input")
        width = w.shape[0]
    if width != max(student.scale.n_classes, 1):
        raise ValueError(f"{width} outputs for a scale of {student.scale.n_classes} classes")


def _first_difference(student: Student, features: ItemFeatures) -> str:
    for i, (a, b) in enumerate(zip(student.feature_names, features.names)):
        if a != b:
            return f"feature {i} is {a!r} for the student, {b!r} here"
    return "the longer list has features the other lacks"


class IndexedVectors:
    """Our (N, D) item vectors as the indexes hold them, pins then products, in index row order: `[rows]`
    gathers (n, D) float32 from each index's own storage (HNSW's flat storage, the exact index's array,
    IVF-PQ's float16 file). The student's features read only the candidates' vectors, so the service keeps no
    copy of the catalog's (a stored or reconstructed one would add N × D × 4 bytes beside the indexes': as
    much again for HNSW, and for IVF-PQ, whose vectors stay on disk, 32 times its codes), and each candidate's
    cosine is the very score the first stage ranked it by."""

    def __init__(self, parts: list[VectorIndex]):
        self.parts = parts
        self.starts = np.cumsum([0, *(len(p) for p in parts)])  # (P + 1,) first catalog row of each part
        self.shape = (int(self.starts[-1]), parts[0].dim)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), np.float32)  # (n, D)
        part = np.searchsorted(self.starts, rows, side="right") - 1  # (n,) which index holds each row
        for p in np.unique(part).tolist():
            mine = part == p
            out[mine] = self.parts[p].vectors_at(rows[mine] - self.starts[p])
        return out


def item_table(indexes: IndexSet, directory: str | Path) -> tuple[pa.Table, IndexedVectors]:
    """The indexed pins and products as enriched rows, and their vectors (`IndexedVectors`) in the same order."""
    from omnisage.relevance.features import ENGAGED_FIELDS, TEXT_FIELDS

    wanted = (*TEXT_FIELDS, *ENGAGED_FIELDS, *RELEVANCE_COLUMNS)
    table = relevance_table(directory, wanted)
    if table is None:
        raise OmniSageError(
            f"{directory}: the item store lacks the student's item fields (rebuild the indexes with "
            "`omnisage index --enriched`)"
        )
    parts, indexed = [], []
    for kind in RERANKED:
        index = indexes.indexes.get(kind)
        if index is None:
            continue
        rows = table.filter(pc.equal(table.column("entity_type"), kind))
        ids = pa.array([str(i) for i in index.ids], pa.string())
        # (N_kind,) the store row of each indexed id, null where the store lacks it
        at = pc.index_in(ids, value_set=rows.column("entity_id").combine_chunks())
        if at.null_count:
            missing = ids[at.is_null().to_numpy(zero_copy_only=False).argmax()].as_py()
            raise OmniSageError(f"{directory}: {kind} {missing!r} is indexed but not in the item store")
        parts.append(rows.take(at))
        indexed.append(index)
    if not parts:
        raise OmniSageError(f"{directory}: no pin or product index to re-rank")
    return pa.concat_tables(parts), IndexedVectors(indexed)


def load_reranker(
    folder: str | Path, indexes: IndexSet, index_dir: str | Path, model_version: str, legacy_dim: int,
    candidates: int,
) -> Reranker:  # fmt: skip
    """The student in `folder` over the index set loaded from `index_dir`, for the model `model_version`;
    every failure an OmniSageError."""
    try:
        student = load_student(folder)
        _check_layers(student)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a manifest or weights of the wrong shape
        raise OmniSageError(f"{folder}: malformed relevance student ({type(exc).__name__}: {exc})") from None
    # Its features hold one model's embeddings: another model's (of the same width) would pass every shape check.
    if student.model_version not in (None, model_version):
        raise OmniSageError(
            f"{folder}: the student was trained on model {student.model_version}'s embeddings, the served model "
            f"is {model_version} (train a student for it: omnisage relevance --model)"
        )
    entities, vectors = item_table(indexes, index_dir)
    try:
        return Reranker.build(student, student_version(folder), entities, vectors, legacy_dim, candidates)
    except DataError as exc:
        raise OmniSageError(f"{folder}: {exc}") from None
