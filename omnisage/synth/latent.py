"""Latent state of the synthetic world: the interests, attributes, language, age and popularity of
every pin, product, query, user and board. Text, vectors and logs are all rendered from this state, and the
truth tables under `truth/` expose it for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnisage.synth.lexicon import LANGUAGES, Lexicon, load_lexicon

DAY_US = 86_400_000_000
HISTORY_DAYS = 1095  # items may predate the logs by up to three years
NONE = -1  # "no secondary leaf / no attribute / no generic word"
LANGUAGE_WEIGHTS = (0.55, 0.18, 0.14, 0.13)  # share of items, queries and users in each of LANGUAGES
SECONDARY_LEAF_SHARE = 0.2  # items that mix a second interest
POPULARITY_SIGMA = 0.8  # lognormal spread of item popularity (which matching item a query engages)
DORMANT_SHARE = 0.2  # items with almost no appeal (popularity x 1/1000): rarely engaged
# Independent random streams per part of the world, so changing how one part is drawn leaves the others as
# they were. Chunked parts add the chunk number, so the output never depends on memory or machine. New
# streams go last: a stream's number is its place here.
STREAMS = (
    "taxonomy", "pins", "products", "users", "boards", "queries", "vectors", "text", "saves", "logs",
    "relevance_labels",
)  # fmt: skip


def stream(seed: int, name: str, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS.index(name), *more])


@dataclass(frozen=True)
class Taxonomy:
    """The lexicon as index arrays: leaves -> subs -> tops, attributes by kind, the world's languages."""

    lexicon: Lexicon
    languages: tuple[str, ...]
    language_weights: np.ndarray  # (n_langs,) sums to 1
    leaf_sub: np.ndarray  # (L,)
    leaf_top: np.ndarray  # (L,)
    sub_top: np.ndarray  # (S,)
    attr_kind: np.ndarray  # (A,) index into `kinds`
    kinds: tuple[str, ...]
    top_attrs: np.ndarray  # (T, max_allowed) attribute ids a top's items may carry, padded with NONE
    top_attr_count: np.ndarray  # (T,)

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_sub)

    @property
    def n_subs(self) -> int:
        return len(self.sub_top)

    @property
    def n_tops(self) -> int:
        return len(self.lexicon.tops)

    @property
    def n_attrs(self) -> int:
        return len(self.attr_kind)

    @property
    def n_concepts(self) -> int:
        """Leaves and subs share one index space: leaf l is concept l, sub s is concept L + s."""
        return self.n_leaves + self.n_subs


def build_taxonomy() -> Taxonomy:
    """The built-in lexicon in every one of its languages, weighted by LANGUAGE_WEIGHTS."""
    lx = load_lexicon()
    leaf_sub = np.array([c.parent for c in lx.leaves], dtype=np.int32)
    sub_top = np.array([c.parent for c in lx.subs], dtype=np.int32)
    kinds = tuple(dict.fromkeys(a.kind for a in lx.attributes))
    attr_kind = np.array([kinds.index(a.kind) for a in lx.attributes], dtype=np.int32)
    allowed = [[i for i, a in enumerate(lx.attributes) if a.kind in top.attr_kinds] for top in lx.tops]
    width = max(len(a) for a in allowed)
    top_attrs = np.full((len(lx.tops), width), NONE, dtype=np.int32)
    for t, ids in enumerate(allowed):
        top_attrs[t, : len(ids)] = ids
    w = np.asarray(LANGUAGE_WEIGHTS, dtype=np.float64)
    return Taxonomy(
        lx,
        LANGUAGES,
        w / w.sum(),
        leaf_sub,
        sub_top[leaf_sub],
        sub_top,
        attr_kind,
        kinds,
        top_attrs,
        np.array([len(a) for a in allowed], dtype=np.int32),
    )


@dataclass(frozen=True)
class Items:
    """Latent state of pins or products, one entry per item."""

    kind: str  # "pin" or "product"
    leaf: np.ndarray  # (N,) primary leaf
    leaf2: np.ndarray  # (N,) secondary leaf or NONE
    attr1: np.ndarray  # (N,) attribute or NONE; attr1 < attr2 when both are set
    attr2: np.ndarray  # (N,)
    lang: np.ndarray  # (N,) index into Taxonomy.languages
    created_day: np.ndarray  # (N,) days since the world's origin
    created_us: np.ndarray  # (N,) epoch microseconds
    popularity: np.ndarray  # (N,) relative engagement propensity

    def __len__(self) -> int:
        return len(self.leaf)


def sibling_ranges(tax: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Per leaf, the first leaf of its sub and the sub's number of leaves (leaves are numbered sub by sub)."""
    start = np.searchsorted(tax.leaf_sub, tax.leaf_sub, side="left")  # (L,)
    return start, np.searchsorted(tax.leaf_sub, tax.leaf_sub, side="right") - start


def leaf_weights(tax: Taxonomy, rng: np.random.Generator, kind: str) -> np.ndarray:
    """How often each leaf occurs among pins or products: the top's weight shared among its leaves, times a
    per-leaf appeal that is the same for both kinds (popular leaves are popular everywhere)."""
    lx = tax.lexicon
    appeal = rng.lognormal(0.0, 0.6, tax.n_leaves)
    top_w = np.array([t.pin_weight if kind == "pin" else t.product_weight for t in lx.tops])
    leaves_per_top = np.bincount(tax.leaf_top, minlength=tax.n_tops)
    w = top_w[tax.leaf_top] / leaves_per_top[tax.leaf_top] * appeal
    return w / w.sum()


def categorical(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n draws from a categorical distribution, by inverse CDF (fast for large n)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(p) - 1).astype(
        np.int32
    )


def _secondary_leaves(rng: np.random.Generator, tax: Taxonomy, leaf: np.ndarray, share: float) -> np.ndarray:
    """A second interest for some items: mostly a sibling in the same sub or top, sometimes anything."""
    n = len(leaf)
    leaf2 = np.full(n, NONE, dtype=np.int32)
    mixed = np.flatnonzero(rng.random(n) < share)
    if len(mixed) == 0:
        return leaf2
    scope = rng.random(len(mixed))
    anywhere = rng.integers(0, tax.n_leaves, len(mixed))
    # Leaves are listed grouped by sub and by top, so a sibling is an offset within the parent's range.
    sub_start = np.searchsorted(tax.leaf_sub, tax.leaf_sub[leaf[mixed]], side="left")
    sub_len = np.searchsorted(tax.leaf_sub, tax.leaf_sub[leaf[mixed]], side="right") - sub_start
    top_start = np.searchsorted(tax.leaf_top, tax.leaf_top[leaf[mixed]], side="left")
    top_len = np.searchsorted(tax.leaf_top, tax.leaf_top[leaf[mixed]], side="right") - top_start
    in_sub = sub_start + (rng.random(len(mixed)) * sub_len).astype(np.int32)
    in_top = top_start + (rng.random(len(mixed)) * top_len).astype(np.int32)
    chosen = np.where(scope < 0.4, in_sub, np.where(scope < 0.7, in_top, anywhere)).astype(np.int32)
    leaf2[mixed] = np.where(chosen == leaf[mixed], NONE, chosen)
    return leaf2


def _attributes(
    rng: np.random.Generator, tax: Taxonomy, top: np.ndarray, probs: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """0-2 attributes of distinct kinds among those the item's top-level interest allows."""
    n = len(top)
    count = tax.top_attr_count[top]
    how_many = categorical(rng, np.asarray(probs), n)
    a1 = tax.top_attrs[top, (rng.random(n) * count).astype(np.int32)]
    a2 = tax.top_attrs[top, (rng.random(n) * count).astype(np.int32)]
    a1 = np.where((how_many >= 1) & (count > 0), a1, NONE)
    a2 = np.where((how_many >= 2) & (a1 != NONE), a2, NONE)
    a2 = np.where(
        (a2 != NONE) & (tax.attr_kind[np.maximum(a2, 0)] == tax.attr_kind[np.maximum(a1, 0)]), NONE, a2
    )
    swap = (a2 != NONE) & (a2 < a1)
    return np.where(swap, a2, a1).astype(np.int32), np.where(swap, a1, a2).astype(np.int32)


def sample_items(
    rng: np.random.Generator,
    tax: Taxonomy,
    n: int,
    kind: str,
    leaf_p: np.ndarray,
    *,
    origin_us: int,
    log_days: int,
) -> Items:
    """n pins or products: a leaf (and maybe a second one), 0-2 attributes, a language, a creation time
    (60% before the logs start, the rest during them) and a lognormal popularity; a DORMANT_SHARE of them
    keep 1/1000 of theirs (the long tail nobody engages with: engaged-query coverage stays near the paper's 65%)."""
    leaf = categorical(rng, leaf_p, n)
    attr_probs = (0.35, 0.45, 0.20) if kind == "pin" else (0.15, 0.50, 0.35)
    a1, a2 = _attributes(rng, tax, tax.leaf_top[leaf], attr_probs)
    before = rng.random(n) < 0.6
    day = np.where(
        before,
        rng.integers(0, HISTORY_DAYS, n),
        HISTORY_DAYS + rng.integers(0, max(log_days, 1), n),
    ).astype(np.int32)
    created_us = origin_us + day.astype(np.int64) * DAY_US + rng.integers(0, DAY_US, n)
    return Items(
        kind,
        leaf,
        _secondary_leaves(rng, tax, leaf, SECONDARY_LEAF_SHARE),
        a1,
        a2,
        categorical(rng, tax.language_weights, n).astype(np.int8),
        day,
        created_us,
        rng.lognormal(0.0, POPULARITY_SIGMA, n) * np.where(rng.random(n) < DORMANT_SHARE, 0.001, 1.0),
    )


@dataclass(frozen=True)
class Boards:
    """Latent state of boards: a topic (a leaf or a sub), an owner, a title language and a title kind."""

    level: np.ndarray  # (B,) 0 = leaf board, 1 = sub board
    concept: np.ndarray  # (B,) concept index (leaf l, or n_leaves + sub)
    top: np.ndarray  # (B,)
    owner: np.ndarray  # (B,) user index
    lang: np.ndarray  # (B,) title language
    attr: np.ndarray  # (B,) an attribute the board collects ("blue kitchen") or NONE
    title_kind: np.ndarray  # (B,) 0 topical, 1 noisy words, 2 emoji only, 3 empty
    activity: np.ndarray  # (B,) how much its owner saves to it

    def __len__(self) -> int:
        return len(self.level)


def sample_users(
    rng: np.random.Generator, tax: Taxonomy, n_users: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users: a language and 1-3 top-level interests. Returns (lang, interest_top, interest_user) where the
    last two list every (top, user) interest pair sorted by top."""
    lang = categorical(rng, tax.language_weights, n_users).astype(np.int8)
    top_p = np.array([t.pin_weight for t in tax.lexicon.tops])
    per_user = rng.integers(1, 4, n_users)
    users = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    tops = categorical(rng, top_p / top_p.sum(), len(users))
    order = np.lexsort((users, tops))
    return lang, tops[order], users[order]


def sample_boards(
    rng: np.random.Generator,
    tax: Taxonomy,
    pins: Items,
    n_boards: int,
    user_lang: np.ndarray,
    interest_top: np.ndarray,
    interest_user: np.ndarray,
) -> Boards:
    """Board topics follow what people pin: each board takes the leaf or sub (and maybe an attribute) of a
    random pin; its owner is a user interested in that top-level interest, who titles it in their language."""
    src = rng.integers(0, len(pins), n_boards)
    level = (rng.random(n_boards) < 0.45).astype(np.int8)
    leaf = pins.leaf[src]
    concept = np.where(level == 0, leaf, tax.n_leaves + tax.leaf_sub[leaf]).astype(np.int32)
    top = tax.leaf_top[leaf]
    start = np.searchsorted(interest_top, top, side="left")
    size = np.searchsorted(interest_top, top, side="right") - start
    any_user = rng.integers(0, len(user_lang), n_boards)
    pick = start + (rng.random(n_boards) * size).astype(np.int64)
    owner = np.where(size > 0, interest_user[np.minimum(pick, len(interest_user) - 1)], any_user).astype(
        np.int32
    )
    # Many non-English users still name some boards in English.
    lang = np.where(rng.random(n_boards) < 0.8, user_lang[owner], 0).astype(np.int8)
    # Some boards are curated around an attribute of the pin that inspired them ("blue velvet sofas").
    a1, a2 = pins.attr1[src], pins.attr2[src]
    one = np.where((a2 != NONE) & (rng.random(n_boards) < 0.5), a2, a1)
    attr = np.where(rng.random(n_boards) < 0.35, one, NONE).astype(np.int32)
    title_kind = categorical(rng, np.array([0.85, 0.10, 0.03, 0.02]), n_boards).astype(np.int8)
    return Boards(level, concept, top, owner, lang, attr, title_kind, rng.lognormal(0.0, 1.0, n_boards))
