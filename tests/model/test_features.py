"""Featurizer: bags equal the tokenizer's ids per field, continuous layout per entity type, leave-one-out equals
removing the query from the row, batch() of a subset equals featurizing that subset (and RowFeatures' batches the
whole catalog's), located errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest
import torch

from omnisage.config import load_config
from omnisage.errors import DataError, OmniSageError
from omnisage.model.features import TEXT_FIELDS, EntityBatch, EntityFeaturizer, RowFeatures, as_table
from omnisage.schema import ENRICHED_ENTITIES
from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary

from ..text.tokenizer_reference import reference_ids


def _featurizer(rows, config) -> EntityFeaturizer:
    texts = [
        t for r in rows for f in TEXT_FIELDS for t in (r.get(f) if isinstance(r.get(f), list) else [r.get(f)])
    ]
    return EntityFeaturizer(TextTokenizer(Vocabulary.build(texts, min_count=1)), config)


def _bags(batch: EntityBatch) -> list[list[int]]:
    bounds = [*batch.offsets.tolist(), batch.token_ids.numel()]
    return [batch.token_ids[bounds[i] : bounds[i + 1]].tolist() for i in range(len(bounds) - 1)]


def test_bags_are_fields_of_rows(rows, config):
    featurizer = _featurizer(rows, config)
    batch = featurizer(rows)
    b, f = len(rows), len(config.text_fields)
    assert len(batch) == b and batch.num_fields == f and batch.offsets.shape == (f * b,)
    bags = _bags(batch)
    tokenizer = featurizer.tokenizer
    for fi, field in enumerate(config.text_fields):
        for ri, row in enumerate(rows):
            value = row.get(field)
            elements = value if isinstance(value, list) else [value]
            expected = np.concatenate([tokenizer.encode(e) for e in elements] or [np.zeros(0, np.int64)])
            assert bags[fi * b + ri] == expected.tolist(), (field, ri)


def test_bags_equal_the_reference_tokenizer_on_varied_text(config):
    # The batched numpy path against the character-by-character reference with string lookups, field by
    # field: accents, casefolding, CJK (and its separators), emoji, invisible characters, the batch marker
    # inside a text, empty and missing fields, list entries that are None, a very long description.
    long = " ".join(f"mot{i % 997} été{i % 13}" for i in range(3000))
    texts = ["Crème Brûlée", "ÉTÉ été Straße", "北京烤鸭・レシピ", "🍕 pizza 🍕", "zero\u200bwidth soft\u00adhyphen",
             "a\x00b", "", "!!! ...", "ﬁne ＦＵＬＬ", "нжд ΣΑΒ", "x"]  # fmt: skip
    rows = [
        {"title": texts[i % len(texts)], "description": long if i == 3 else texts[(i * 3) % len(texts)],
         "caption": None if i % 4 == 0 else texts[(i + 5) % len(texts)], "brand": "",
         "board_titles": [texts[(i + j) % len(texts)] for j in range(i % 5)] + [None],
         "engaged_queries": [] if i % 3 == 0 else [texts[(i * j) % len(texts)] for j in range(1, 7)]}
        for i in range(24)
    ]  # fmt: skip
    vocab = Vocabulary.build([long, *texts[:8]], unigram_cap=40, bigram_cap=200, trigram_cap=150)
    batch = EntityFeaturizer(TextTokenizer(vocab), config)(rows)
    bags, b = _bags(batch), len(rows)
    for fi, field in enumerate(config.text_fields):
        for ri, row in enumerate(rows):
            value = row.get(field)
            expected = [
                i for e in (value if isinstance(value, list) else [value]) for i in reference_ids(vocab, e)
            ]
            assert bags[fi * b + ri] == expected, (field, ri)
    assert len(bags[config.text_fields.index("description") * b + 3]) > 10_000  # the long field is all there


def test_continuous_layout(rows, config):
    batch = _featurizer(rows, config)(rows)
    legacy, image = config.legacy_dim, config.image_dim
    assert batch.continuous.shape == (3, 2 * legacy + image)
    pin, product, bare = batch.continuous
    assert pin[:legacy].tolist() == pytest.approx(rows[0]["legacy_vector"])
    assert pin[legacy : 2 * legacy].abs().sum() == 0  # a pin has no product legacy vector
    assert pin[2 * legacy :].tolist() == pytest.approx(rows[0]["image_vector"])
    assert product[:legacy].abs().sum() == 0
    assert product[legacy : 2 * legacy].tolist() == pytest.approx(rows[1]["legacy_vector"])
    assert product[2 * legacy :].abs().sum() == 0 and bare.abs().sum() == 0


def test_switches_and_field_choice(rows, config):
    config = dataclasses.replace(config, use_image_features=False, text_fields=("title", "caption"))
    batch = _featurizer(rows, config)(rows)
    assert batch.continuous.shape == (3, 2 * config.legacy_dim) and batch.num_fields == 2
    with pytest.raises(OmniSageError, match=r"model\.text_fields: 'nope' is not one of 'title'"):
        load_config(None, ["model.text_fields=title,nope"])


def test_leave_one_out_equals_removing_the_query(rows, config):
    featurizer = _featurizer(rows, config)
    excluded = featurizer(rows, exclude_query=["  RED Sofa ", None, "red sofa"])  # normalized comparison
    edited = [dict(r) for r in rows]
    edited[0]["engaged_queries"] = ["velvet couch", "living room"]
    expected = featurizer(edited)
    assert torch.equal(excluded.token_ids, expected.token_ids) and torch.equal(
        excluded.offsets, expected.offsets
    )
    assert not torch.equal(featurizer(rows).token_ids, expected.token_ids)
    with pytest.raises(ValueError):
        featurizer.features(rows).batch([0], ["a", "b"])


def test_batch_of_subset_equals_featurizing_subset(rows, config):
    featurizer = _featurizer(rows, config)
    features = featurizer.features(rows)
    picked = [2, 0, 0]
    sub = features.batch(picked, [None, "velvet couch", None])
    direct = featurizer([rows[i] for i in picked], exclude_query=[None, "velvet couch", None])
    for name in ("token_ids", "offsets", "continuous"):
        assert torch.equal(getattr(sub, name), getattr(direct, name)), name


def test_row_features_equal_the_whole_catalogs(rows, config):
    featurizer = _featurizer(rows, config)
    whole, on_demand = featurizer.features(rows), RowFeatures(featurizer, rows)
    for picked, exclude in (([2, 0, 0, 1], [None, "velvet couch", None, "x"]), ([1], None), ([0, 2], None)):
        a, b = whole.batch(picked, exclude), on_demand.batch(picked, exclude)
        for name in ("token_ids", "offsets", "continuous"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (picked, name)
    assert len(on_demand) == len(rows)


def test_arrow_table_equals_dicts(rows, config):
    featurizer = _featurizer(rows, config)
    table = pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in ENRICHED_ENTITIES} for r in rows], schema=ENRICHED_ENTITIES
    )
    a, b = featurizer(table), featurizer(rows)
    assert torch.equal(a.token_ids, b.token_ids) and torch.equal(a.continuous, b.continuous)
    fixed = table.set_column(
        table.schema.get_field_index("image_vector"),
        "image_vector",
        pa.array([r.get("image_vector") for r in rows], type=pa.list_(pa.float32(), config.image_dim)),
    )
    assert torch.equal(featurizer(fixed).continuous, b.continuous)  # fixed-size lists are read too


def test_bad_rows_are_located(rows, config):
    featurizer = _featurizer(rows, config)
    rows[1]["legacy_vector"] = [1.0, 2.0]
    with pytest.raises(DataError, match=r"row 2, column 'legacy_vector': vector has 2 dims, expected 8"):
        featurizer(rows)
    rows[1]["legacy_vector"] = [float("nan")] * config.legacy_dim
    with pytest.raises(DataError, match=r"row 2, column 'legacy_vector': .*NaN"):
        featurizer(rows)
    rows[1]["legacy_vector"] = None
    rows[0]["entity_type"] = "board"
    with pytest.raises(DataError, match=r"row 1, column 'entity_type'"):
        featurizer(rows)
    with pytest.raises(DataError, match="column 'title'"):
        featurizer([{"title": 5}])


def test_empty_and_missing_columns(config, rows):
    featurizer = _featurizer(rows, config)
    batch = featurizer([])
    assert len(batch) == 0 and batch.token_ids.numel() == 0
    batch = featurizer(as_table([{"title": "red sofa"}]))  # no type, no vectors: text only
    assert batch.continuous.abs().sum() == 0 and batch.token_ids.numel() > 0


def test_leave_one_out_touches_only_its_own_row(rows, config):
    # The same entity can be the positive of two pairs (and a negative) in one batch: only the row whose
    # pair owns the query loses it.
    features = _featurizer(rows, config).features(rows)
    batch = features.batch([0, 0, 0], ["red sofa", None, "velvet couch"])
    plain = features.batch([0], None)
    without_red = features.batch([0], ["red sofa"])
    without_velvet = features.batch([0], ["velvet couch"])
    bags = _bags(batch)
    f = config.text_fields.index("engaged_queries")
    assert bags[f * 3 + 0] == _bags(without_red)[f]
    assert bags[f * 3 + 1] == _bags(plain)[f]
    assert bags[f * 3 + 2] == _bags(without_velvet)[f]


def test_field_sizes_count_list_entries_after_leave_one_out(rows, config):
    # `model.field_sizes`: log(1 + entries) of board titles and engaged queries, in text_fields order, counted
    # after the pair's own query is left out; off, the batch carries none.
    assert _featurizer(rows, config)(rows).sizes is None
    sized = dataclasses.replace(config, field_sizes=True)
    features = _featurizer(rows, sized).features(rows)
    batch = features.batch()
    # (board titles, engaged queries) per row
    expected = np.log1p([[2, 3], [0, 2], [0, 0]]).astype(np.float32)
    assert config.text_fields.index("board_titles") < config.text_fields.index("engaged_queries")
    torch.testing.assert_close(batch.sizes, torch.from_numpy(expected))
    left_out = features.batch([0, 0], ["Red Sofa", None])
    expected = np.log1p([[2, 2], [2, 3]]).astype(np.float32)
    torch.testing.assert_close(left_out.sizes, torch.from_numpy(expected))
    only_titles = dataclasses.replace(sized, text_fields=("title", "board_titles"))
    assert _featurizer(rows, only_titles)(rows).sizes.shape == (3, 1)
