"""Board saves and two years of engagement logs for the synthetic world (paper §3.2, §4.1): a Zipf-
popular query engages an entity that truly matches it, drawn by popularity among entities existing then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from omnisage.synth.latent import HISTORY_DAYS, NONE, Boards, Items, Taxonomy, categorical
from omnisage.synth.queries import QueryLatents

PIN, PRODUCT, QUERY = 0, 1, 2
ENTITY_TYPES = ("pin", "product", "query")
ACTIONS = ("save", "long_click", "click", "add_to_cart", "checkout")
SAVE = ACTIONS.index("save")
# Action mix per entity type (indices into ACTIONS); offsite actions only exist for products.
ACTION_P = {
    PIN: np.array([0.35, 0.25, 0.40, 0.0, 0.0]),
    PRODUCT: np.array([0.15, 0.25, 0.45, 0.10, 0.05]),
    QUERY: np.array([0.0, 0.0, 1.0, 0.0, 0.0]),
}
TYPE_P = np.array([0.70, 0.20, 0.10])  # pin, product, related-query click
GROWTH = 0.5  # traffic at the end of the logs is 1 + GROWTH times the traffic at the start
SAME_LANGUAGE_SHARE = 0.35  # engagements restricted to items in the query's language


class GroupSampler:
    """Members sorted by (group key, day): a group is a contiguous range and "created before day d" a prefix
    of it, so a weighted draw is two binary searches plus one in the cumulative weights."""

    def __init__(
        self, keys: np.ndarray, members: np.ndarray, weights: np.ndarray, days: np.ndarray, day_bits: int
    ):
        self.bits = day_bits
        combined = (keys.astype(np.int64) << day_bits) | days.astype(np.int64)
        order = np.argsort(combined, kind="stable")
        self.combined = combined[order]
        self.members = members[order]
        self.cw = np.concatenate([[0.0], np.cumsum(weights[order], dtype=np.float64)])

    def bounds(self, keys: np.ndarray, before_day: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        base = keys.astype(np.int64) << self.bits
        lo = np.searchsorted(self.combined, base, side="left")
        limit = base + before_day if before_day is not None else base + (1 << self.bits)
        hi = np.searchsorted(self.combined, limit, side="left")
        return lo, hi

    def draw(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """One member per (lo, hi) range with hi > lo, in proportion to weight."""
        target = self.cw[lo] + rng.random(len(lo)) * (self.cw[hi] - self.cw[lo])
        pos = np.clip(np.searchsorted(self.cw, target, side="right") - 1, lo, hi - 1)
        return self.members[pos]


def day_bits(n_days: int) -> int:
    return int(n_days + 2).bit_length()


# ---- board saves -----------------------------------------------------------------------------------------
class BoardPicker:
    """Boards by what they collect: (concept, attribute) groups and, above them, top-level interests."""

    def __init__(self, tax: Taxonomy, boards: Boards):
        self.tax, self.na = tax, tax.n_attrs + 1
        keys = np.concatenate(
            [
                boards.concept.astype(np.int64) * self.na + boards.attr + 1,
                tax.n_concepts * self.na + boards.top,
            ]
        )
        members = np.tile(np.arange(len(boards), dtype=np.int64), 2)
        self.sampler = GroupSampler(
            keys, members, np.tile(boards.activity, 2), np.zeros(len(keys), np.int64), 0
        )

    def pick(
        self, rng: np.random.Generator, concept: np.ndarray, attr: np.ndarray, leaf: np.ndarray
    ) -> np.ndarray:
        """A board about `concept` that collects `attr`, failing that one about `concept`, then one about the
        sub of `leaf`, then one of its top-level interest; -1 where there is none."""
        tax, na = self.tax, self.na
        sub = tax.n_leaves + tax.leaf_sub[leaf]
        concept = np.asarray(concept, np.int64)
        board = np.full(len(concept), -1, dtype=np.int64)
        for key in (
            concept * na + attr + 1,
            concept * na,
            sub * na,
            tax.n_concepts * na + tax.leaf_top[leaf],
        ):
            todo = np.flatnonzero(board < 0)
            lo, hi = self.sampler.bounds(key[todo])
            ok = hi > lo
            board[todo[ok]] = self.sampler.draw(rng, lo[ok], hi[ok])
        return board


def _one_attribute(rng: np.random.Generator, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """The attribute a board collects: the second one half of the time when there is one, else the first."""
    return np.where((a2 != NONE) & (rng.random(len(a1)) < 0.5), a2, a1)


def board_saves(
    rng: np.random.Generator, tax: Taxonomy, pins: Items, picker: BoardPicker, saved: np.ndarray, end_us: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(board, pin, ts_us) saves made outside search: every `saved` pin at least once, popular pins more
    often, to boards about the pin's leaf or sub (and attribute, for curated boards), failing that to boards
    of its top-level interest."""
    n = len(pins)
    lam = 1.5 * np.sqrt(pins.popularity / pins.popularity.mean())
    count = np.where(saved, 1 + np.minimum(rng.poisson(lam), 40), 0)
    pin = np.repeat(np.arange(n, dtype=np.int64), count)
    m = len(pin)
    leaf = np.where((pins.leaf2[pin] != NONE) & (rng.random(m) < 0.2), pins.leaf2[pin], pins.leaf[pin])
    sub = tax.n_leaves + tax.leaf_sub[leaf]
    want = np.where(rng.random(m) < 0.55, leaf, sub)
    board = picker.pick(rng, want, _one_attribute(rng, pins.attr1[pin], pins.attr2[pin]), leaf)
    created = pins.created_us[pin]
    ts = created + (rng.random(m) * (end_us - created)).astype(np.int64)
    keep = board >= 0
    return board[keep], pin[keep], ts[keep]


def search_board_saves(
    rng: np.random.Generator,
    queries: QueryLatents,
    pins: Items,
    picker: BoardPicker,
    query: np.ndarray,
    pin: np.ndarray,
    ts_us: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A save from search puts the pin on a board, so each one is also a board save: to the saver's board
    about what they searched (the query's leaf or sub, and one of its attributes), failing that to a board
    about the pin's sub or top-level interest. This is how a pin's board titles come to echo its queries."""
    attr = _one_attribute(rng, queries.attr1[query], queries.attr2[query])
    board = picker.pick(rng, queries.concept[query], attr, pins.leaf[pin])
    keep = board >= 0
    return board[keep], pin[keep], ts_us[keep]


def first_saves(
    board: np.ndarray, pin: np.ndarray, ts_us: np.ndarray, n_pins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per (board, pin), at its first save; sorted by board, then pin."""
    key = board * n_pins + pin
    order = np.lexsort((ts_us, key))
    key, ts_us = key[order], ts_us[order]
    first = np.concatenate([[True], key[1:] != key[:-1]]) if len(key) else np.zeros(0, bool)
    return key[first] // n_pins, key[first] % n_pins, ts_us[first]


# ---- engagements ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogChunk:
    query: np.ndarray  # (R,) query index
    entity_type: np.ndarray  # (R,) PIN / PRODUCT / QUERY
    entity: np.ndarray  # (R,) pin index, product index or query index, by type
    action: np.ndarray  # (R,) index into ACTIONS
    ts_us: np.ndarray  # (R,) sorted


class EngagementModel:
    """Who engages with what: item groups keyed by (type, language or any, concept, attributes), related
    queries keyed by (language or any, concept)."""

    def __init__(
        self,
        tax: Taxonomy,
        pins: Items,
        products: Items,
        queries: QueryLatents,
        query_weight: np.ndarray,
        *,
        log_start_us: int,
        log_days: int,
        saved: np.ndarray,
    ):
        self.tax, self.queries = tax, queries
        self.saved = saved  # (P,) False: nobody saves this pin, from search or elsewhere
        self.log_start_us, self.log_days = log_start_us, log_days
        self.any_lang = len(tax.languages)  # the "any language" slot
        self.bits = day_bits(HISTORY_DAYS + log_days)
        parts = [
            e for etype, items in ((PIN, pins), (PRODUCT, products)) for e in self._entries(etype, items)
        ]
        self.items = GroupSampler(*(np.concatenate(col) for col in zip(*parts)), self.bits)
        q = np.arange(len(queries), dtype=np.int64)
        sub = self._sub(q)
        is_leaf = queries.level == 0
        keys, members = [], []
        for lang in (queries.lang, np.full(len(q), self.any_lang)):
            keys += [self._qkey(lang, sub), self._qkey(lang[is_leaf], queries.concept[is_leaf])]
            members += [q, q[is_leaf]]
        members_all = np.concatenate(members)
        self.related = GroupSampler(
            np.concatenate(keys),
            members_all,
            query_weight[members_all],
            np.zeros(len(members_all), np.int64),
            0,
        )
        self.query_cdf = np.cumsum(query_weight)

    def key(self, etype, lang, concept, a1, a2) -> np.ndarray:
        na = self.tax.n_attrs + 1
        k = (np.asarray(etype, np.int64) * (self.any_lang + 1) + lang) * self.tax.n_concepts + concept
        return (k * na + (np.asarray(a1, np.int64) + 1)) * na + (np.asarray(a2, np.int64) + 1)

    def _qkey(self, lang, concept) -> np.ndarray:
        return np.asarray(lang, np.int64) * self.tax.n_concepts + concept

    def _sub(self, q: np.ndarray) -> np.ndarray:
        """The sub-interest concept of each query (a sub query is its own sub)."""
        Q, tax = self.queries, self.tax
        leaf = np.minimum(Q.concept[q], tax.n_leaves - 1)
        return np.where(Q.level[q] == 0, tax.n_leaves + tax.leaf_sub[leaf], Q.concept[q])

    def _entries(self, etype: int, items: Items) -> Iterator[tuple[np.ndarray, ...]]:
        """Every group an item belongs to: its leaves and their subs x attribute subsets x (own language, any)."""
        tax, n = self.tax, len(items)
        idx = np.arange(n, dtype=np.int64)
        every = np.ones(n, bool)
        has2 = items.leaf2 != NONE
        leaf2 = np.where(has2, items.leaf2, 0)
        sub1 = tax.n_leaves + tax.leaf_sub[items.leaf]
        sub2 = tax.n_leaves + tax.leaf_sub[leaf2]
        concepts = ((items.leaf, every), (sub1, every), (leaf2, has2), (sub2, has2 & (sub2 != sub1)))
        a1, a2 = items.attr1, items.attr2
        none = np.full(n, NONE)
        attrsets = ((none, none, every), (a1, none, a1 != NONE), (a2, none, a2 != NONE), (a1, a2, a2 != NONE))
        for concept, c_ok in concepts:
            for x1, x2, a_ok in attrsets:
                for lang in (items.lang.astype(np.int64), np.full(n, self.any_lang)):
                    ok = c_ok & a_ok
                    key = self.key(etype, lang[ok], concept[ok], x1[ok], x2[ok])
                    yield key, idx[ok], items.popularity[ok], items.created_day[ok]

    def chunk(self, rng: np.random.Generator, u_lo: float, u_hi: float, n: int) -> LogChunk:
        """n log rows in the [u_lo, u_hi) quantile band of the growing traffic, sorted by time. Draws that
        find nothing to engage with (no matching item created yet, no related query) are redrawn."""
        parts, have = [], 0
        for _ in range(4):
            part = self._draw(rng, u_lo, u_hi, int((n - have) * 1.1) + 16)
            parts.append(part)
            have += len(part.query)
            if have >= n:
                break
        merged = LogChunk(*(np.concatenate(cols) for cols in zip(*(vars(p).values() for p in parts))))
        order = np.argsort(merged.ts_us, kind="stable")
        if len(order) > n:
            order = order[np.sort(rng.choice(len(order), n, replace=False))]
        return LogChunk(*(col[order] for col in vars(merged).values()))

    def _draw(self, rng: np.random.Generator, u_lo: float, u_hi: float, n: int) -> LogChunk:
        u = np.sort(u_lo + rng.random(n) * (u_hi - u_lo))
        # Inverse CDF of a traffic density proportional to 1 + GROWTH * t / T on [0, T], in days.
        a = GROWTH / 2
        t = (np.sqrt(1.0 + 4 * a * (1 + a) * u) - 1.0) / (2 * a) * self.log_days
        day = np.minimum(t.astype(np.int64), self.log_days - 1)
        cdf = self.query_cdf
        q = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(cdf) - 1)
        etype = categorical(rng, TYPE_P, n).astype(np.int8)
        entity = np.full(n, -1, dtype=np.int64)
        Q = self.queries
        # Items that match the query's leaf or sub and attributes, created before the engagement; some
        # users only engage with items in their own language.
        rows = np.flatnonzero(etype != QUERY)
        same = rng.random(len(rows)) < SAME_LANGUAGE_SHARE
        any_lang = np.full(len(rows), self.any_lang)
        c, a1, a2 = Q.concept[q[rows]], Q.attr1[q[rows]], Q.attr2[q[rows]]
        before = HISTORY_DAYS + day[rows]
        attempts = (
            (etype[rows], np.where(same, Q.lang[q[rows]], self.any_lang)),
            (etype[rows], any_lang),
            (np.full(len(rows), PIN, np.int8), any_lang),  # no matching product yet: the user engages a pin
        )
        for types, langs in attempts:
            todo = np.flatnonzero(entity[rows] < 0)
            key = self.key(types[todo], langs[todo], c[todo], a1[todo], a2[todo])
            lo, hi = self.items.bounds(key, before[todo])
            ok = hi > lo
            entity[rows[todo[ok]]] = self.items.draw(rng, lo[ok], hi[ok])
            etype[rows[todo[ok]]] = types[todo[ok]]
        # Related-query clicks: a query of the same leaf (or sub), in the same language when there is one.
        rows = np.flatnonzero(etype == QUERY)
        same_leaf = (Q.level[q[rows]] == 0) & (rng.random(len(rows)) < 0.7)
        concept = np.where(same_leaf, Q.concept[q[rows]], self._sub(q[rows]))
        for lang in (Q.lang[q[rows]], np.full(len(rows), self.any_lang)):
            todo = np.flatnonzero(entity[rows] < 0)
            lo, hi = self.related.bounds(self._qkey(lang[todo], concept[todo]))
            ok = hi > lo
            entity[rows[todo[ok]]] = self.related.draw(rng, lo[ok], hi[ok])
        entity[rows[entity[rows] == q[rows]]] = -1  # the query itself is not a related query
        action = np.empty(n, dtype=np.int8)
        for code, p in ACTION_P.items():
            sel = np.flatnonzero(etype == code)
            action[sel] = categorical(rng, p, len(sel))
        # A pin nobody saves gets the other pin actions instead.
        sel = np.flatnonzero((etype == PIN) & (action == SAVE) & (entity >= 0))
        sel = sel[~self.saved[entity[sel]]]
        rest = ACTION_P[PIN] * (np.arange(len(ACTIONS)) != SAVE)
        action[sel] = categorical(rng, rest / rest.sum(), len(sel))
        keep = entity >= 0
        ts_us = self.log_start_us + (t * 86_400_000_000).astype(np.int64)
        return LogChunk(q[keep].astype(np.int32), etype[keep], entity[keep], action[keep], ts_us[keep])
