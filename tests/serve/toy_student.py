"""A hand-made relevance student for the serving tests: its score is a known function of one feature.

One linear layer over unstandardized features, zero everywhere but `title_match` (the share of the query's
words found in the title): relevance = 1 + 2·sigmoid(8·title_match − 4) on Home Depot's 1–3 scale. So a title
holding every query word scores 2.964028, half of them 2.0, none 1.036, and the oracle of a re-ranking is a sort.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from omnisage.data.scale import HOMEDEPOT
from omnisage.index.catalog import IndexSet
from omnisage.relevance.features import FEATURES, ItemFeatures
from omnisage.relevance.student import Student
from omnisage.serve.rerank import IndexedVectors, Reranker

VERSION = "toy-student"


def title_match_relevance(share: float) -> float:
    return 1.0 + 2.0 / (1.0 + np.exp(-(8.0 * share - 4.0)))


def word_match_student(names: tuple[str, ...]) -> Student:
    weights = np.zeros((1, len(names)), np.float32)
    weights[0, FEATURES.index("title_match")] = 8.0
    zeros, ones = np.zeros(len(names), np.float32), np.ones(len(names), np.float32)
    return Student(HOMEDEPOT, names, zeros, ones, [weights], [np.array([-4.0], np.float32)])


def toy_entities(pins: list[str], products: list[str]) -> pa.Table:
    """The toy indexes' pins and products (titles) as enriched rows, with the ids `toy_indexes` gives them."""
    ids = [f"pin{i}" for i in range(len(pins))] + [f"prod{i}" for i in range(len(products))]
    kinds = ["pin"] * len(pins) + ["product"] * len(products)
    return pa.table({"entity_type": kinds, "entity_id": ids, "title": pins + products})


def toy_reranker(indexes: IndexSet, pins: list[str], products: list[str], candidates: int = 100) -> Reranker:
    """The word-match student over `toy_indexes(...)` built from these pin and product titles."""
    vectors = IndexedVectors([indexes.indexes["pin"], indexes.indexes["product"]])  # (N, D), as served
    entities = toy_entities(pins, products)
    names = ItemFeatures.build(entities, vectors).names
    return Reranker.build(word_match_student(names), VERSION, entities, vectors, 0, candidates)
