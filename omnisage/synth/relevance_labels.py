"""Human-like relevance labels of the synthetic world, for the relevance model: (query, pin) and (query, product)
pairs sampled the way a labelling program samples them, each judged on five levels by three simulated raters
from how well the item's true interest and attributes meet the query's. Only English queries are labelled for
training (the paper's raters were English-only); a held-out sample in every language is the evaluation truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from omnisage.data.scale import FIVE_LEVELS
from omnisage.schema import RELEVANCE_LABELS
from omnisage.synth.latent import NONE, Items, Taxonomy
from omnisage.synth.logs import ENTITY_TYPES, GroupSampler
from omnisage.synth.queries import QueryLatents
from omnisage.synth.tables import table_schema

# Where a judged item comes from: what the search shows for the query (its interest, often with one of its
# attributes), near-misses (the query's sub or top-level interest, an item sharing an attribute word), anything.
SHOWN, SIBLING, TOP, WORD, RANDOM = range(5)
SLOTS = np.array([SHOWN, SHOWN, SHOWN, SIBLING, TOP, WORD, RANDOM, RANDOM])  # one judged item per slot
PRODUCT_SHARE = 0.3  # judged items that are products rather than pins
# Queries judged: per language a held-out evaluation sample, and for training a share of the other English ones.
EVAL_SHARE, MIN_EVAL_QUERIES, MAX_EVAL_QUERIES = 0.15, 40, 1000  # per language: ~8k labels each at most
TRAIN_SHARE, MAX_TRAIN_QUERIES = 0.7, 25_000  # of the English queries: ~200k labels at most (the paper: 280k)
# Raters: a pool with their own leniency (bias) and care (noise), three per pair; the label is their median.
RATERS, RATERS_PER_PAIR = 40, 3
RATER_BIAS_SD, RATER_NOISE = 0.25, (0.35, 0.8)
# The truth: a level per topic match (primary, secondary interest, sibling leaf, same top-level interest, none),
# less per query attribute the item contradicts or does not state (at most MAX_MISS, at an exact topic).
TOPIC = (5.0, 4.0, 3.0, 2.0, 1.0)
CLASH, UNSTATED, MAX_MISS = 2.0, 1.0, 3.0
SHARED_WORD = 0.7  # an unrelated item sharing an attribute with the query reads as less irrelevant


def split_queries(
    rng: np.random.Generator, lang: np.ndarray, weight: np.ndarray, languages: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) query indices, disjoint. Queries are sampled by damped traffic (the tail is judged too);
    each language's first ones are held out for evaluation, the next English ones are labelled for training."""
    order = np.argsort(-(0.5 * np.log(weight) + rng.gumbel(size=len(weight))), kind="stable")
    held: list[np.ndarray] = []
    train = np.zeros(0, np.int64)
    for code, name in enumerate(languages):
        mine = order[lang[order] == code]
        n_eval = min(MAX_EVAL_QUERIES, max(MIN_EVAL_QUERIES, round(EVAL_SHARE * len(mine))), len(mine) // 2)
        held.append(mine[:n_eval])
        if name == "en":  # the raters' language
            n_train = min(MAX_TRAIN_QUERIES, round(TRAIN_SHARE * len(mine)), len(mine) - n_eval)
            train = np.sort(mine[n_eval : n_eval + n_train])
    return train, np.sort(np.concatenate(held))


def concept_key(tax: Taxonomy, concept: np.ndarray, attr: np.ndarray) -> np.ndarray:
    """Items about a leaf or sub (concept index) carrying an attribute, or any attributes (attr NONE)."""
    return np.asarray(concept, np.int64) * (tax.n_attrs + 1) + np.asarray(attr, np.int64) + 1


def top_key(tax: Taxonomy, top: np.ndarray) -> np.ndarray:
    return tax.n_concepts * (tax.n_attrs + 1) + np.asarray(top, np.int64)


def attr_key(tax: Taxonomy, attr: np.ndarray) -> np.ndarray:
    return tax.n_concepts * (tax.n_attrs + 1) + tax.n_tops + np.asarray(attr, np.int64)


class Candidates:
    """Pins or products grouped by what a labelling program looks up: a leaf or sub (with one attribute, or any),
    a top-level interest, an attribute. Draws favour popular items, as a search page does."""

    def __init__(self, tax: Taxonomy, items: Items):
        self.n = len(items)
        idx = np.arange(len(items), dtype=np.int64)
        every = np.ones(len(items), bool)
        has2 = items.leaf2 != NONE
        leaf2 = np.where(has2, items.leaf2, 0)
        sub1, sub2 = tax.n_leaves + tax.leaf_sub[items.leaf], tax.n_leaves + tax.leaf_sub[leaf2]
        a1, a2, none = items.attr1, items.attr2, np.full(len(items), NONE)
        keys, members = [top_key(tax, tax.leaf_top[items.leaf])], [idx]
        for attr in (a1, a2):
            keys.append(attr_key(tax, attr[attr != NONE]))
            members.append(idx[attr != NONE])
        for concept, c_ok in (
            (items.leaf, every),
            (sub1, every),
            (leaf2, has2),
            (sub2, has2 & (sub2 != sub1)),
        ):
            for attr, a_ok in ((none, every), (a1, a1 != NONE), (a2, a2 != NONE)):
                ok = c_ok & a_ok
                keys.append(concept_key(tax, concept[ok], attr[ok]))
                members.append(idx[ok])
        member = np.concatenate(members)
        weight = np.sqrt(items.popularity)[member]
        self.groups = GroupSampler(np.concatenate(keys), member, weight, np.zeros(len(member), np.int64), 0)

    def draw(self, rng: np.random.Generator, keys: np.ndarray) -> np.ndarray:
        """One item per key, -1 where its group is empty (a key of -1 always is)."""
        out = np.full(len(keys), -1, np.int64)
        lo, hi = self.groups.bounds(np.maximum(keys, 0))
        ok = (hi > lo) & (keys >= 0)
        out[ok] = self.groups.draw(rng, lo[ok], hi[ok])
        return out


def _query_sub(tax: Taxonomy, q: QueryLatents, qi: np.ndarray) -> np.ndarray:
    """The sub-interest of each query (a sub query's own)."""
    c = q.concept[qi]
    return np.where(q.level[qi] == 0, tax.leaf_sub[np.minimum(c, tax.n_leaves - 1)], c - tax.n_leaves)


def _slot_keys(
    rng: np.random.Generator, tax: Taxonomy, q: QueryLatents, qi: np.ndarray, slot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(first choice, fallback) group key of each slot; -1: none (a random item instead)."""
    n = len(qi)
    c, a1, a2 = q.concept[qi], q.attr1[qi], q.attr2[qi]
    sub = _query_sub(tax, q, qi)
    top = tax.sub_top[sub]
    one = np.where((a2 != NONE) & (rng.random(n) < 0.5), a2, a1)  # one of the query's attributes, or NONE
    asked = np.where(rng.random(n) < 0.7, one, NONE)  # the search page mostly honours it
    near = np.where(q.level[qi] == 0, concept_key(tax, tax.n_leaves + sub, NONE), top_key(tax, top))
    first = np.select(
        [slot == SHOWN, slot == SIBLING, slot == TOP, slot == WORD],
        [concept_key(tax, c, asked), near, top_key(tax, top), np.where(one != NONE, attr_key(tax, one), -1)],
        -1,
    )
    fallback = np.select([slot == SHOWN, slot == SIBLING], [concept_key(tax, c, NONE), top_key(tax, top)], -1)
    return first, fallback


def sample_pairs(
    rng: np.random.Generator,
    tax: Taxonomy,
    q: QueryLatents,
    queries: np.ndarray,
    cands: tuple[Candidates, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, entity type, entity) of the distinct pairs the slots pick for `queries`, query by query. An
    empty group falls back to its fallback, then to the other kind of item, then to a random item."""
    qi = np.repeat(queries, len(SLOTS))
    slot = np.tile(SLOTS, len(queries))
    first, fallback = _slot_keys(rng, tax, q, qi, slot)
    etype = (rng.random(len(qi)) < PRODUCT_SHARE).astype(np.int8)
    entity = np.full(len(qi), -1, np.int64)
    for keys, flip in ((first, 0), (fallback, 0), (first, 1), (fallback, 1)):
        for code, cand in enumerate(cands):
            todo = np.flatnonzero((entity < 0) & ((etype ^ flip) == code))
            got = cand.draw(rng, keys[todo])
            entity[todo], etype[todo[got >= 0]] = got, code
    todo = np.flatnonzero(entity < 0)
    sizes = np.array([c.n for c in cands])
    entity[todo] = (rng.random(len(todo)) * sizes[etype[todo]]).astype(np.int64)
    packed = (qi * 2 + etype) * int(sizes.max()) + entity
    _, first_seen = np.unique(packed, return_index=True)
    keep = np.sort(first_seen)
    return qi[keep], etype[keep], entity[keep]


def true_relevance(
    tax: Taxonomy,
    q: QueryLatents,
    qi: np.ndarray,
    items: tuple[Items, ...],
    etype: np.ndarray,
    entity: np.ndarray,
) -> np.ndarray:
    """The level a careful rater would give, as a number in [1, 5]: the topic first (the item is primarily or
    secondarily about the query's interest, a sibling leaf, the same top-level interest, unrelated), then each
    attribute the query asks for that the item contradicts or does not have, weighing less as the topic drifts.
    An unrelated item sharing an attribute word ("blue dress" for "blue sofa") is irrelevant, not highly so."""
    leaf, leaf2, attr1, attr2 = (
        _item_column(items, name, etype, entity) for name in ("leaf", "leaf2", "attr1", "attr2")
    )
    c, is_leaf, sub = q.concept[qi], q.level[qi] == 0, _query_sub(tax, q, qi)
    other = np.maximum(leaf2, 0)
    primary = np.where(is_leaf, leaf == c, tax.leaf_sub[leaf] == sub)
    secondary = (leaf2 != NONE) & np.where(is_leaf, leaf2 == c, tax.leaf_sub[other] == sub)
    sibling = tax.leaf_sub[leaf] == sub
    same_top = tax.leaf_top[leaf] == tax.sub_top[sub]
    topic = np.select([primary, secondary, sibling, same_top], TOPIC[:4], TOPIC[4])

    def kind(a: np.ndarray) -> np.ndarray:
        return np.where(a != NONE, tax.attr_kind[np.maximum(a, 0)], -1)

    miss, shared = np.zeros(len(qi)), np.zeros(len(qi), bool)
    for asked in (q.attr1[qi], q.attr2[qi]):
        has = (asked != NONE) & ((attr1 == asked) | (attr2 == asked))
        clash = (asked != NONE) & ~has & ((kind(attr1) == kind(asked)) | (kind(attr2) == kind(asked)))
        miss += np.where(clash, CLASH, np.where((asked != NONE) & ~has, UNSTATED, 0.0))
        shared |= has
    score = topic - np.minimum(miss, MAX_MISS) * (topic - 1) / 4
    return np.clip(np.where((topic <= 2) & shared, score + SHARED_WORD, score), 1.0, 5.0)


def _item_column(items: tuple[Items, ...], name: str, etype: np.ndarray, entity: np.ndarray) -> np.ndarray:
    out = np.empty(len(entity), np.int64)
    for code, it in enumerate(items):
        sel = etype == code
        out[sel] = getattr(it, name)[entity[sel]]
    return out


@dataclass(frozen=True)
class Raters:
    """The rater pool: each rater's leniency (added to the truth) and care (the spread of their errors)."""

    bias: np.ndarray  # (RATERS,)
    noise: np.ndarray  # (RATERS,)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Raters:
        return cls(rng.normal(0.0, RATER_BIAS_SD, RATERS), rng.uniform(*RATER_NOISE, RATERS))

    def judge(self, rng: np.random.Generator, truth: np.ndarray) -> np.ndarray:
        """The median of RATERS_PER_PAIR distinct raters' levels: always one of the five levels."""
        who = np.argsort(rng.random((len(truth), len(self.bias))), axis=1)[:, :RATERS_PER_PAIR]  # (J, 3)
        seen = truth[:, None] + self.bias[who] + self.noise[who] * rng.standard_normal(who.shape)  # (J, 3)
        return np.median(np.clip(np.rint(seen), FIVE_LEVELS.low, FIVE_LEVELS.high), axis=1)


def judge_world(
    rng: np.random.Generator,
    tax: Taxonomy,
    items: tuple[Items, Items],
    q: QueryLatents,
    texts: list[str],
    weight: np.ndarray,
) -> tuple[pa.Table, pa.Table]:
    """(relevance_labels, the evaluation truth) in the contract's form: English queries' labels for training,
    and a disjoint held-out sample of queries in every language, judged by the same raters."""
    train, held = split_queries(rng, q.lang, weight, tax.languages)
    cands = tuple(Candidates(tax, it) for it in items)
    raters = Raters.sample(rng)
    tables = []
    for queries in (train, held):
        qi, etype, entity = sample_pairs(rng, tax, q, queries, cands)
        label = raters.judge(rng, true_relevance(tax, q, qi, items, etype, entity))
        tables.append(_table(tax, q, texts, qi, etype, entity, label))
    return tables[0], tables[1]


def _table(
    tax: Taxonomy,
    q: QueryLatents,
    texts: list[str],
    qi: np.ndarray,
    etype: np.ndarray,
    entity: np.ndarray,
    label: np.ndarray,
) -> pa.Table:
    prefix = np.array(["p", "pr"])[etype]
    cols = {
        "query_text": pa.array(texts).take(qi),
        "entity_type": np.array(ENTITY_TYPES)[etype].tolist(),  # pin 0, product 1
        "entity_id": [f"{p}{e}" for p, e in zip(prefix.tolist(), entity.tolist())],
        "label": label.astype(np.float64),
        "raters": np.full(len(qi), RATERS_PER_PAIR, np.int64),
        "lang": np.array(tax.languages)[q.lang[qi]].tolist(),
    }
    return pa.table(cols, schema=table_schema(RELEVANCE_LABELS))
