"""The student's pair features on a hand-made catalog: every scalar feature checked against its value by hand,
BM25 rising with term overlap, missing legacy vectors and engagement, the offline batch path equal to the serving
path, and the word sets / engaged-query index against plain Python oracles."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from omnisage.errors import DataError
from omnisage.relevance.features import SCALAR_FEATURES, ItemFeatures, query_vectors
from omnisage.relevance.word_sets import EngagedIndex, WordSets
from omnisage.schema import ENRICHED_ENTITIES

COLUMN = {name: i for i, name in enumerate(SCALAR_FEATURES)}
DIM, LEGACY_DIM = 8, 4


def _row(i: int, title: str | None, **fields) -> dict:
    rng = np.random.default_rng(i)
    row = {
        "entity_type": "product" if i % 2 else "pin",
        "entity_id": f"e{i}",
        "title": title,
        "legacy_vector": rng.normal(size=LEGACY_DIM).astype(np.float32).tolist(),
        "engaged_queries": [],
        "engaged_query_scores": [],
    }
    row.update(fields)
    return row


ROWS = [
    _row(0, "Red Sofa"),  # the phrase itself
    _row(1, "sofa, red"),  # both words, not as the phrase
    _row(2, "blue sofa"),  # one word of two
    _row(3, None, description="a red sofa for the den"),  # only in the description
    _row(
        4,
        "green lamp",
        engaged_queries=["RED sofa!", "red sofa", "lamp"],
        engaged_query_scores=[2.0, 1.0, 4.0],
    ),
    _row(5, "red chair", legacy_vector=None, board_titles=["sofa ideas"]),
]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def catalog() -> tuple[ItemFeatures, np.ndarray]:
    vectors = _unit(np.random.default_rng(0).normal(size=(len(ROWS), DIM)))
    return ItemFeatures.build(pa.Table.from_pylist(ROWS, schema=ENRICHED_ENTITIES), vectors), vectors


def test_scalar_features_by_hand(catalog):
    items, vectors = catalog
    q, q_legacy = _unit(np.arange(1.0, DIM + 1)), _unit(np.ones(LEGACY_DIM))
    x = items.pair_features(items.query_side("red sofa", q, q_legacy), np.arange(len(ROWS)))
    assert x.shape == (len(ROWS), len(items.names)) == (6, len(SCALAR_FEATURES) + DIM)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    column = {name: x[:, i] for name, i in COLUMN.items()}
    np.testing.assert_array_equal(column["title_match"], [1, 1, 0.5, 0, 0, 0.5])
    np.testing.assert_array_equal(column["text_match"], [1, 1, 0.5, 1, 0, 0.5])
    np.testing.assert_array_equal(
        column["engaged_match"], [0, 0, 0, 0, 1, 0.5]
    )  # engaged queries; board titles
    np.testing.assert_array_equal(column["title_phrase"], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(column["query_words"], np.log1p(2))
    # "RED sofa!" and "red sofa" are one query once normalized: 2 + 1 on item 4.
    np.testing.assert_allclose(column["pair_engagement"], [0, 0, 0, 0, np.log1p(3.0), 0])
    np.testing.assert_allclose(column["engagement"], [0, 0, 0, 0, np.log1p(7.0), 0])
    np.testing.assert_allclose(column["engaged_count"], [0, 0, 0, 0, np.log1p(3), 0])
    np.testing.assert_array_equal(column["is_product"], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(column["cosine"], vectors @ q, rtol=1e-6)
    np.testing.assert_allclose(x[:, len(SCALAR_FEATURES) :], vectors * q, rtol=1e-6)  # q * e
    legacy = _unit(np.array([r["legacy_vector"] or np.ones(LEGACY_DIM) for r in ROWS], np.float32)) @ q_legacy
    np.testing.assert_allclose(column["legacy_cosine"], np.where(np.arange(6) == 5, 0.0, legacy), rtol=1e-6)
    np.testing.assert_array_equal(column["legacy_missing"], [0, 0, 0, 0, 0, 1])


def test_bm25_rises_with_term_overlap():
    titles = ["oak table lamp", "red oak shelf", "red oak sofa", "paper"]  # 0, 1, 2 query words; then none
    rows = [_row(i, t) for i, t in enumerate(titles)]
    items = ItemFeatures.build(
        pa.Table.from_pylist(rows, schema=ENRICHED_ENTITIES), np.eye(4, dtype=np.float32)
    )
    x = items.pair_features(items.query_side("red sofa", np.eye(4, dtype=np.float32)[0]), np.arange(4))
    bm25 = x[:, COLUMN["bm25_text"]]
    assert bm25[0] == 0 and bm25[3] == 0 and 0 < bm25[1] < bm25[2]
    assert (x[:, COLUMN["bm25_engaged"]] == 0).all()  # no engaged text anywhere


def test_missing_legacy_vectors_and_engagement_columns():
    """A table with titles only (no legacy, engaged or board columns): finite features, legacy marked missing,
    and a query's legacy vector is ignored when no item has one."""
    table = pa.table(
        {"entity_type": ["pin", "product"], "entity_id": ["a", "b"], "title": ["red sofa", None]}
    )
    items = ItemFeatures.build(table, np.eye(2, 3, dtype=np.float32))
    side = items.query_side("red sofa", np.array([1.0, 0, 0]), np.ones(4))
    x = items.pair_features(side, np.array([0, 1]))
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[:, COLUMN["legacy_missing"]], [1, 1])
    for name in ("legacy_cosine", "pair_engagement", "engagement", "engaged_count", "bm25_engaged"):
        np.testing.assert_array_equal(x[:, COLUMN[name]], [0, 0])
    empty = items.pair_features(items.query_side("", np.array([1.0, 0, 0])), np.array([0, 1]))
    assert (
        np.isfinite(empty).all() and (empty[:, COLUMN["title_match"] : COLUMN["query_words"] + 1] == 0).all()
    )


def test_batch_features_are_the_serving_path(catalog):
    items, _ = catalog
    rng = np.random.default_rng(1)
    queries = ["red sofa", "lamp", "red sofa", "blue chair", "lamp", "red sofa"]
    q = _unit(rng.normal(size=(len(queries), DIM)))
    q[2] = q[5] = q[0]  # one vector per distinct query, as encoding gives
    q[4] = q[1]
    legacy = _unit(rng.normal(size=(len(queries), LEGACY_DIM)))
    legacy[2] = legacy[5] = legacy[0]
    legacy[4] = legacy[1]
    rows = np.array([0, 4, 5, 1, 2, 3])
    batch = items.batch_features(queries, q, rows, legacy)
    for i, text in enumerate(queries):
        one = items.pair_features(items.query_side(text, q[i], legacy[i]), rows[i : i + 1])
        np.testing.assert_array_equal(batch[i], one[0])


def test_rows_and_errors(catalog):
    items, _ = catalog
    np.testing.assert_array_equal(items.rows(["product", "pin"], ["e3", "e0"]), [3, 0])
    with pytest.raises(DataError, match="pin 'e3' is not in the item catalog"):
        items.rows(["pin"], ["e3"])
    with pytest.raises(DataError, match="legacy vector has 3 dims"):
        items.query_side("x", np.ones(DIM), np.ones(3))
    with pytest.raises(DataError, match="vectors"):
        ItemFeatures.build(pa.Table.from_pylist(ROWS, schema=ENRICHED_ENTITIES), np.ones((2, DIM)))


class _Model:
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return _unit(np.arange(1.0, 9.0)[None, :].repeat(len(texts), 0) + np.arange(len(texts))[:, None])


def test_query_vectors_give_the_compatibility_prefix():
    vectors, legacy = query_vectors(_Model(), ["a", "b"], legacy_dim=3)
    np.testing.assert_allclose(legacy, _unit(vectors[:, :3]))
    assert query_vectors(_Model(), ["a"], legacy_dim=0)[1] is None
    assert query_vectors(_Model(), ["a"], legacy_dim=16)[1] is None  # wider than the model: no prefix


def test_word_sets_count_like_python_sets():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    lists = [list(rng.choice(words, int(rng.integers(0, 12)))) for _ in range(200)]
    vocabulary: dict[str, int] = {"unseen": 0}
    sets = WordSets.build(lists, vocabulary)
    vocabulary["later"] = len(vocabulary)  # a word another word set added afterwards
    query = np.array(sorted({vocabulary[w] for w in ("w1", "w7", "w7", "w29", "unseen", "later")}), np.int32)
    rows = rng.permutation(200)[:50]
    expected = [len({"w1", "w7", "w29"} & set(lists[r])) for r in rows]
    np.testing.assert_array_equal(sets.matches(rows, query), expected)


def test_engaged_index_sums_weights_per_normalized_query():
    index = EngagedIndex.build(
        [["Red Sofa", "red sofa!", "lamp"], None, ["lamp", "", None], ["lamp"]],
        [[1.0, 2.0, 0.5], None, [3.0, 9.0], []],  # the last weight is missing: it counts 0
    )
    rows = np.array([3, 0, 1, 2])
    np.testing.assert_array_equal(index.weights_for("red sofa", rows), [0, 3.0, 0, 0])
    np.testing.assert_array_equal(index.weights_for("lamp", rows), [0, 0.5, 0, 3.0])
    assert "" not in index.keys and not index.weights_for("", rows).any()
