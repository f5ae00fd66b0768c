"""Queries of the synthetic world: what each query asks for (a leaf or a whole sub, attributes, a
generic modifier, a language), its unique normalized text, its Zipf popularity, and the ground truth the
downstream query-interest classifier is scored on (paper §5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from omnisage.synth.latent import NONE, Items, Taxonomy, categorical
from omnisage.synth.text import Writer


@dataclass(frozen=True)
class QueryLatents:
    """What a query asks for: a leaf (or a whole sub), optional attributes and a generic word, a language and
    which synonym it uses."""

    level: np.ndarray  # (Q,) 0 leaf, 1 sub
    concept: np.ndarray  # (Q,) concept index (leaf l or n_leaves + sub)
    attr1: np.ndarray
    attr2: np.ndarray
    generic: np.ndarray  # (Q,) index into lexicon.generic or NONE
    context: np.ndarray  # (Q,) 1: a leaf query that also names its sub ("kitchen backsplash"), else 0
    lang: np.ndarray
    synonym: np.ndarray  # (Q,) which surface form (taken modulo the number of synonyms)

    def take(self, idx: np.ndarray) -> QueryLatents:
        return QueryLatents(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.level)


def sample_query_latents(rng: np.random.Generator, tax: Taxonomy, items: list[Items], n: int) -> QueryLatents:
    """Candidate queries, each describing a real item (so every query has something to engage with):
    its leaf (sometimes its secondary leaf, sometimes just its sub), some of its attributes."""
    pool = np.concatenate([it.popularity for it in items]) ** 0.5
    src = categorical(rng, pool / pool.sum(), n).astype(np.int64)

    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(it, name) for it in items])[src]

    leaf, leaf2, a1, a2 = column("leaf"), column("leaf2"), column("attr1"), column("attr2")
    use2 = (leaf2 != NONE) & (rng.random(n) < 0.3)
    leaf = np.where(use2, leaf2, leaf)
    level = (rng.random(n) < 0.12).astype(np.int8)
    concept = np.where(level == 0, leaf, tax.n_leaves + tax.leaf_sub[leaf]).astype(np.int32)
    keep1 = rng.random(n) < 0.45
    keep2 = rng.random(n) < 0.35
    q1 = np.where(keep1, a1, NONE)
    q2 = np.where(keep2, a2, NONE)
    first = np.where(q1 != NONE, q1, q2)
    second = np.where(q1 != NONE, q2, NONE)
    generic = np.where(rng.random(n) < 0.35, rng.integers(0, len(tax.lexicon.generic), n), NONE)
    context = (level == 0) & (rng.random(n) < 0.12)
    return QueryLatents(
        level,
        concept,
        first.astype(np.int32),
        second.astype(np.int32),
        generic.astype(np.int32),
        context.astype(np.int8),
        categorical(rng, tax.language_weights, n).astype(np.int8),
        rng.integers(0, 6, n).astype(np.int8),
    )


def query_popularity(
    rng: np.random.Generator, q: QueryLatents, language_weights: np.ndarray, exponent: float = 0.95
) -> np.ndarray:
    """Zipf popularity over queries; short head queries ("sofa") tend to rank above long ones. Traffic per
    language is then rescaled to the language weights (deduplication leaves fewer distinct English queries)."""
    plain = (q.attr1 == NONE).astype(float) + 0.5 * (q.generic == NONE) + 0.3 * (q.level == 0)
    score = plain + rng.gumbel(0.0, 1.0, len(q))
    rank = np.empty(len(q), dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(len(q))
    weight = 1.0 / (rank + 3.0) ** exponent
    traffic = np.bincount(q.lang, weights=weight, minlength=len(language_weights))
    return weight * (language_weights / np.maximum(traffic / traffic.sum(), 1e-12))[q.lang]


def unique_queries(
    rng: np.random.Generator, tax: Taxonomy, writer: Writer, items: list[Items], n: int
) -> tuple[QueryLatents, list[str]]:
    """Up to n queries with distinct normalized texts; when two latents read the same ('tacos' is Spanish
    and English), the first drawn keeps the text."""
    cand = sample_query_latents(rng, tax, items, 5 * n)
    packed = np.zeros(len(cand), np.int64)
    for col, width in (
        (cand.level, 1 << 1),
        (cand.concept, 1 << 12),
        (cand.attr1 + 1, 1 << 8),
        (cand.attr2 + 1, 1 << 8),
        (cand.generic + 1, 1 << 6),
        (cand.context, 1 << 1),
        (cand.lang, 1 << 4),
        (cand.synonym, 1 << 4),
    ):
        packed = packed * width + col
    _, first = np.unique(packed, return_index=True)
    cand = cand.take(np.sort(first))
    seen: dict[str, int] = {}
    fields = (cand.concept, cand.attr1, cand.attr2, cand.generic, cand.context, cand.lang, cand.synonym)
    for i, row in enumerate(zip(*(f.tolist() for f in fields))):
        text = writer.query(*row)
        if text and text not in seen:
            seen[text] = i
            if len(seen) == n:
                break
    return cand.take(np.fromiter(seen.values(), np.int64, len(seen))), list(seen)


def query_truth(tax: Taxonomy, q: QueryLatents, texts: list[str]) -> pa.Table:
    """truth/query_interests: each query's language, level and top/sub/leaf ids and names, attributes."""
    lx = tax.lexicon
    is_leaf = (q.level == 0).tolist()
    leaf = np.where(q.level == 0, q.concept, 0)
    sub = np.where(q.level == 0, tax.leaf_sub[leaf], q.concept - tax.n_leaves)
    top = tax.sub_top[sub]

    def column(concepts, idx: np.ndarray, what: str, leaf_only: bool = False) -> list[str | None]:
        values = [getattr(concepts[i], what) for i in idx.tolist()]
        return [v if ok else None for v, ok in zip(values, is_leaf)] if leaf_only else values

    return pa.table(
        {
            "query_text": texts,
            "lang": np.array(tax.languages)[q.lang].tolist(),
            "level": ["leaf" if ok else "sub" for ok in is_leaf],
            "top_id": column(lx.tops, top, "id"),
            "top_name": column(lx.tops, top, "name"),
            "sub_id": column(lx.subs, sub, "id"),
            "sub_name": column(lx.subs, sub, "name"),
            "leaf_id": column(lx.leaves, leaf, "id", leaf_only=True),
            "leaf_name": column(lx.leaves, leaf, "name", leaf_only=True),
            "attributes": [
                [lx.attributes[a].name for a in pair if a != NONE]
                for pair in zip(q.attr1.tolist(), q.attr2.tolist())
            ],
        }
    )
