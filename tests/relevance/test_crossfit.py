"""Cross-fitted training inputs: a labelled query never finds itself among its item's engaged queries (item text,
vector, engagement features), every other engaged query stays, and pairs that are not training pairs see the full
catalog."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pytest

from omnisage.relevance.crossfit import FOLDS, CrossFit, fold_of, hide_fold
from omnisage.relevance.features import FEATURES, ItemFeatures
from omnisage.schema import ENRICHED_ENTITIES

COLUMN = {name: i for i, name in enumerate(FEATURES)}
DIM = 16


def _queries_in_two_folds() -> tuple[str, str]:
    """Two queries that hash to different folds (so one is hidden while the other stays)."""
    first = "red sofa"
    for i in range(100):
        other = f"lamp {i}"
        if fold_of([other])[0] != fold_of([first])[0]:
            return first, other
    raise AssertionError("no second fold found")


Q1, Q2 = _queries_in_two_folds()
ROWS = [
    {"entity_type": "product", "entity_id": "a", "title": "velvet couch",
     "engaged_queries": [Q1, Q2, "RED  Sofa!"], "engaged_query_scores": [2.0, 1.0, 3.0]},
    {"entity_type": "product", "entity_id": "b", "title": "floor lamp",
     "engaged_queries": [Q2], "engaged_query_scores": [1.0]},
    {"entity_type": "pin", "entity_id": "c", "title": "red sofa in a den",
     "engaged_queries": None, "engaged_query_scores": None},
]  # fmt: skip


class HashEncoder:
    """Item vectors that depend on the engaged queries, as the model's residual does: a hashed bag of them."""

    def encode_entities(self, table: pa.Table) -> np.ndarray:
        out = np.zeros((table.num_rows, DIM), np.float32)
        for i, row in enumerate(table.column("engaged_queries").to_pylist()):
            out[i, 0] = 1.0
            for q in row or ():
                out[i, 1 + zlib.crc32(q.encode()) % (DIM - 1)] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def entities() -> pa.Table:
    return pa.Table.from_pylist(ROWS, schema=ENRICHED_ENTITIES)


def test_hiding_a_fold_drops_its_queries_and_their_scores_only(entities):
    fold = int(fold_of([Q1])[0])
    hidden, changed = hide_fold(entities, fold)
    assert changed.tolist() == [0]
    assert hidden.column("engaged_queries").to_pylist() == [[Q2], [Q2], None]  # "RED  Sofa!" is Q1 too
    assert hidden.column("engaged_query_scores").to_pylist() == [[1.0], [1.0], None]
    assert hidden.column("title").to_pylist() == entities.column("title").to_pylist()
    empty = next(f for f in range(FOLDS) if f not in fold_of([Q1, Q2]).tolist())
    same, none = hide_fold(entities, empty)
    assert same is entities and len(none) == 0


def test_training_pairs_never_see_their_own_engagement(entities):
    model = HashEncoder()
    vectors = model.encode_entities(entities)
    crossfit = CrossFit(model, entities, vectors)
    pairs = pa.table({"query_text": [Q1, Q2, Q1], "entity_type": ["product", "product", "pin"],
                      "entity_id": ["a", "a", "c"]})  # fmt: skip
    query_vectors = np.tile(vectors[:1], (3, 1))
    x = crossfit.features(pairs, query_vectors, None)
    full = ItemFeatures.build(entities, vectors).batch_features(
        pairs.column("query_text").to_pylist(), query_vectors, np.array([0, 0, 2])
    )
    # On the full catalog both queries are engaged with item a; as training pairs neither is.
    assert (full[:2, COLUMN["pair_engagement"]] > 0).all()
    assert (x[:2, COLUMN["pair_engagement"]] == 0).all()
    assert x[0, COLUMN["engagement"]] == pytest.approx(np.log1p(1.0))  # only Q2's weight is left
    assert x[0, COLUMN["engaged_count"]] == pytest.approx(np.log1p(1))
    assert x[1, COLUMN["engagement"]] == pytest.approx(np.log1p(5.0))  # only Q1's weights (2 + 3)
    assert x[0, COLUMN["engaged_match"]] == 0.0 and full[0, COLUMN["engaged_match"]] == 1.0
    assert x[0, COLUMN["bm25_engaged"]] == 0.0 < full[0, COLUMN["bm25_engaged"]]
    # The item's vector is re-encoded without the hidden query, so the cosine changes with it.
    hidden, _ = hide_fold(entities, int(fold_of([Q1])[0]))
    expected = float(model.encode_entities(hidden.slice(0, 1))[0] @ query_vectors[0])
    assert x[0, COLUMN["cosine"]] == pytest.approx(expected, abs=1e-6)
    assert x[0, COLUMN["cosine"]] != pytest.approx(full[0, COLUMN["cosine"]])
    # Nothing engaged: the pair reads the same as on the full catalog; text features never change.
    np.testing.assert_allclose(x[2], full[2], atol=1e-6)
    for name in ("bm25_text", "title_match", "text_match", "title_phrase", "query_words"):
        np.testing.assert_allclose(x[:, COLUMN[name]], full[:, COLUMN[name]], atol=1e-6)


def test_item_text_hides_the_pairs_own_query(entities):
    crossfit = CrossFit(HashEncoder(), entities, HashEncoder().encode_entities(entities))
    pairs = pa.table({"query_text": [Q1, Q2], "entity_type": ["product"] * 2, "entity_id": ["a", "a"]})
    own, other = crossfit.texts(pairs)
    assert Q2 in own and Q1 not in own.lower()
    assert "sofa" in other.lower() and Q2 not in other
