"""The synthetic world's relevance labels: on the declared five levels, English only for training, a disjoint
held-out sample in every language, and ordered the way the world's truth orders the pairs (checked against
truth/ and the logs); the truth itself on hand-computed cases, and noiseless raters against rounding."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from omnisage.config import SynthConfig
from omnisage.data.scale import FIVE_LEVELS, scale_of
from omnisage.data.validate import validate_world
from omnisage.synth.latent import NONE, Items, build_taxonomy, stream
from omnisage.synth.lexicon import LANGUAGES
from omnisage.synth.queries import QueryLatents
from omnisage.synth.relevance_labels import RATERS_PER_PAIR, Raters, split_queries, true_relevance
from omnisage.synth.world import generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(SynthConfig(pins=1500, seed=11), out)
    return out


def _labels(d: Path) -> tuple[list[dict], list[dict]]:
    return (
        pq.read_table(d / "relevance_labels.parquet").to_pylist(),
        pq.read_table(d / "truth" / "relevance_eval.parquet").to_pylist(),
    )


def test_the_world_validates_against_its_declared_five_levels(world):
    manifest = json.loads((world / "world.json").read_text())
    assert scale_of(manifest) == FIVE_LEVELS
    counts = validate_world(world)
    train, held = _labels(world)
    assert counts["relevance_labels"] == len(train) == manifest["counts"]["relevance_labels"]
    levels = manifest["summary"]["relevance"]["labels_by_level"]
    assert levels == {f"{v:g}": sum(r["label"] == v for r in train) for v in FIVE_LEVELS.levels}
    for rows in (train, held):
        assert {r["label"] for r in rows} == set(FIVE_LEVELS.levels)  # every level occurs
        assert {r["raters"] for r in rows} == {RATERS_PER_PAIR}
        keys = [(r["query_text"], r["entity_type"], r["entity_id"]) for r in rows]
        assert len(set(keys)) == len(keys) and {k[1] for k in keys} == {"pin", "product"}


def test_training_labels_are_english_and_the_held_out_queries_every_language_and_disjoint(world):
    train, held = _labels(world)
    lang = dict(
        zip(*pq.read_table(world / "queries.parquet", columns=["query_text", "lang"]).to_pydict().values())
    )
    assert {r["lang"] for r in train} == {"en"} and all(lang[r["query_text"]] == "en" for r in train)
    by_lang = collections.Counter(r["lang"] for r in held)
    assert set(by_lang) == set(LANGUAGES) and min(by_lang.values()) >= 100
    assert all(lang[r["query_text"]] == r["lang"] for r in held)
    assert not {r["query_text"] for r in train} & {r["query_text"] for r in held}
    assert 1000 <= len(train) <= 8 * len({r["query_text"] for r in train})


def test_labels_follow_the_truth_and_engaged_pairs_score_high(world):
    """The mean label falls as the item drifts from the query's interest, by margins random labels never show."""
    entity = {
        r["entity_id"]: r for r in pq.read_table(world / "truth" / "entity_interests.parquet").to_pylist()
    }
    query = {
        r["query_text"]: r for r in pq.read_table(world / "truth" / "query_interests.parquet").to_pylist()
    }
    engaged = pq.read_table(world / "engagements.parquet", columns=["query_text", "entity_id"]).to_pydict()
    engaged = set(zip(engaged["query_text"], engaged["entity_id"]))
    for rows in _labels(world):
        by = collections.defaultdict(list)
        for r in rows:
            q, e = query[r["query_text"]], entity[r["entity_id"]]
            if q["top_id"] != e["top_id"]:
                by["other top"].append(r["label"])
            elif q["sub_id"] != e["sub_id"]:
                by["same top"].append(r["label"])
            elif q["leaf_id"] in (None, e["leaf_id"]):  # a sub query, or the query's own leaf
                by["match"].append(r["label"])
            else:
                by["sibling"].append(r["label"])
            by["engaged" if (r["query_text"], r["entity_id"]) in engaged else "not engaged"].append(
                r["label"]
            )
        mean = {k: float(np.mean(v)) for k, v in by.items()}
        assert mean["match"] > 4.2 and mean["other top"] < 1.6
        ladder = [mean[k] for k in ("match", "sibling", "same top", "other top")]
        assert np.all(-np.diff(ladder) > [1.0, 0.4, 0.4])  # each step down costs (about 1.7, 0.8, 0.8 here)
        assert mean["engaged"] > mean["not engaged"] + 1.5


def _hand_world():
    """One leaf query asking for a colour, and items at known distances from it."""
    tax = build_taxonomy()
    leaf = 0
    sibling = int(np.flatnonzero((tax.leaf_sub == tax.leaf_sub[leaf]) & (np.arange(tax.n_leaves) != leaf))[0])
    cousin = int(
        np.flatnonzero((tax.leaf_top == tax.leaf_top[leaf]) & (tax.leaf_sub != tax.leaf_sub[leaf]))[0]
    )
    stranger = int(np.flatnonzero(tax.leaf_top != tax.leaf_top[leaf])[0])
    colors = np.flatnonzero(tax.attr_kind == tax.kinds.index("color"))
    blue, red = int(colors[0]), int(colors[1])
    other_kind = int(np.flatnonzero(tax.attr_kind != tax.kinds.index("color"))[0])
    q = QueryLatents(*(np.array([v]) for v in (0, leaf, blue, NONE, NONE, 0, 0, 0)))
    # (leaf, secondary leaf, attr1, attr2) -> the truth by hand: topic level minus penalties scaled by (topic-1)/4
    cases = [
        ((leaf, NONE, blue, NONE), 5.0),  # the leaf with the colour asked for
        ((leaf, NONE, NONE, NONE), 4.0),  # the colour unstated: -1
        ((leaf, NONE, other_kind, NONE), 4.0),  # another kind of attribute says nothing of colour
        ((leaf, NONE, red, NONE), 3.0),  # the colour contradicted: -2
        ((stranger, leaf, blue, NONE), 4.0),  # secondarily about the leaf, right colour
        ((sibling, NONE, NONE, NONE), 2.5),  # a sibling leaf, colour unstated: 3 - 1 * 2/4
        ((sibling, NONE, red, NONE), 2.0),  # a sibling leaf, colour contradicted: 3 - 2 * 2/4
        ((cousin, NONE, blue, NONE), 2.7),  # the same top-level interest, sharing the word
        ((stranger, NONE, blue, NONE), 1.7),  # unrelated, sharing the word
        ((stranger, NONE, red, NONE), 1.0),  # unrelated
    ]
    rows = np.array([c[0] for c in cases])
    n = len(cases)
    zeros = np.zeros(n, np.int64)
    items = Items("pin", *(rows[:, i] for i in range(4)), zeros, zeros, zeros, np.ones(n))
    return tax, q, items, np.array([c[1] for c in cases])


def test_true_relevance_on_hand_computed_cases():
    tax, q, items, expected = _hand_world()
    n = len(expected)
    got = true_relevance(tax, q, np.zeros(n, np.int64), (items,), np.zeros(n, np.int8), np.arange(n))
    np.testing.assert_allclose(got, expected)


def test_noiseless_raters_round_the_truth_and_noisy_ones_stay_on_the_levels():
    truth = np.linspace(1.0, 5.0, 401)
    rng = stream(3, "relevance_labels")
    exact = Raters(np.zeros(7), np.zeros(7)).judge(rng, truth)
    np.testing.assert_array_equal(exact, np.clip(np.rint(truth), 1, 5))
    noisy = Raters.sample(rng).judge(rng, np.repeat(truth, 20))
    assert set(noisy.tolist()) <= set(FIVE_LEVELS.levels)
    assert 0.5 < np.mean(noisy == np.rint(np.repeat(truth, 20))) < 0.95  # noisy, yet mostly right


def test_split_queries_holds_out_every_language_and_trains_on_english_only():
    rng = np.random.default_rng(0)
    lang = rng.integers(0, 4, 5000)
    weight = 1.0 / (np.arange(5000) + 3.0)
    train, held = split_queries(rng, lang, weight, ("en", "es", "fr", "de"))
    assert not set(train) & set(held) and set(lang[train]) == {0}
    counts = np.bincount(lang[held], minlength=4)
    np.testing.assert_array_equal(counts, np.round(0.15 * np.bincount(lang)))
    assert len(train) == round(0.7 * np.sum(lang == 0))
