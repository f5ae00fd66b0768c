"""The teacher's query text: each query with its k nearest labelled queries by the query embedding, never itself,
in order of similarity; k = 0 leaves queries alone; a teacher given a context scores the expanded text."""

from __future__ import annotations

import numpy as np
import pytest

from omnisage.config import RelevanceConfig
from omnisage.data.scale import FIVE_LEVELS
from omnisage.errors import OmniSageError
from omnisage.relevance.query_context import QueryContext
from omnisage.relevance.teacher import load_teacher, train_teacher

from .test_teacher import LEVELS, QUERIES, TEXTS, _cfg, _pairs, encoder  # noqa: F401

# A query embedding by hand: three directions (sofas, tables, lamps); the Spanish query sits between the sofas.
VECTORS = {
    "red sofa": [1.0, 0.0, 0.0],
    "blue sofa": [0.9, 0.3, 0.0],
    "oak table": [0.0, 1.0, 0.0],
    "desk lamp": [0.0, 0.0, 1.0],
    "sofá rojo": [0.99, 0.1, 0.0],
    "mesa": [0.2, 0.9, 0.1],
}
LABELLED = ["red sofa", "blue sofa", "oak table", "desk lamp"]


class _Embedding:
    def __init__(self):
        self.calls = 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.asarray([VECTORS[t] for t in texts], np.float32) * 3.0  # not unit: the context normalizes


def test_each_query_reads_its_nearest_labelled_queries_in_order():
    context = QueryContext(_Embedding(), LABELLED, k=2)
    assert context.texts(["sofá rojo", "mesa"]) == [
        "sofá rojo ; related: red sofa ; blue sofa",
        "mesa ; related: oak table ; blue sofa",
    ]


def test_a_labelled_query_never_lists_itself():
    context = QueryContext(_Embedding(), LABELLED, k=1)
    assert context.texts(["red sofa", "blue sofa", "oak table"]) == [
        "red sofa ; related: blue sofa",
        "blue sofa ; related: red sofa",
        "oak table ; related: blue sofa",
    ]
    only = QueryContext(_Embedding(), ["red sofa"], k=3)
    assert only.texts(["red sofa", "sofá rojo"]) == ["red sofa", "sofá rojo ; related: red sofa"]


def test_order_repeats_and_cache():
    model = _Embedding()
    context = QueryContext(model, LABELLED, k=3)
    first = context.texts(["mesa", "sofá rojo", "mesa"])
    assert first[0] == first[2] and first[1].startswith("sofá rojo ; related: red sofa")
    calls = model.calls
    assert context.texts(["sofá rojo", "mesa"]) == [first[1], first[0]]
    assert model.calls == calls  # already expanded: no second encoder call


def test_zero_neighbours_leave_queries_alone():
    model = _Embedding()
    assert QueryContext(model, LABELLED, k=0).texts(["mesa", "red sofa"]) == ["mesa", "red sofa"]
    assert model.calls == 0
    with pytest.raises(OmniSageError, match="teacher_query_neighbors must be >= 0"):
        RelevanceConfig(teacher_query_neighbors=-1)


class _QueryEmbedding:
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray([[float(len(t)), float(sum(map(ord, t)) % 7), 1.0] for t in texts], np.float32)


def test_a_teacher_with_a_context_scores_the_expanded_queries(encoder, tmp_path, one_thread):  # noqa: F811
    out = train_teacher(
        _pairs(LEVELS), FIVE_LEVELS, tmp_path / "t", _cfg(encoder, teacher_epochs=2.0), progress=False,
        log=lambda _: None,
    )  # fmt: skip
    teacher = load_teacher(out)
    teacher.amp = None
    context = QueryContext(_QueryEmbedding(), QUERIES[:5], k=2)
    expanded = teacher.predict(context.texts(QUERIES), TEXTS).score
    teacher.context = context
    np.testing.assert_allclose(teacher.predict(QUERIES, TEXTS).score, expanded, atol=1e-6)
    assert not np.allclose(expanded, load_teacher(out).predict(QUERIES, TEXTS).score)
