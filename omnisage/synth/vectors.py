"""Continuous features of the synthetic world (paper §3.3): legacy embeddings, a fixed noisy projection
of an item's interests that is coarse-heavy, blind to attributes and weaker for new items (PinSage/ItemSage
stand-ins), and image embeddings that see the visible attributes (color, material) and the sub-interest fairly well but
confuse sibling leaves: a nearest-direction probe on 20k pins names the right sub ~70% of the time and the right
leaf only ~40% (the leaf is what titles, captions and boards add, as in the paper's Table 4).
"""

from __future__ import annotations

import numpy as np

from omnisage.synth.latent import NONE, Items, Taxonomy, sibling_ranges

FRESH_DAYS = 180  # items younger than this at the end of the logs get noisier legacy embeddings
SIBLING_CONFUSION = 0.3  # legacy embeddings place this share of items at a sibling leaf of the same sub
IMAGE_NOISE = 2.5  # norm of the image noise relative to the unit signal


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.einsum("...i,...i->...", x, x))[..., None]  # cheaper than linalg.norm on big chunks
    x /= np.maximum(norm, 1e-12)
    return x


def _hierarchy(rng: np.random.Generator, tax: Taxonomy, dim: int, shares: tuple[float, float]) -> np.ndarray:
    """(L, dim) leaf directions that lean towards their sub's direction, which leans towards its top's: how
    much of a leaf is shared with its siblings is what makes an embedding coarse."""
    top = _unit(rng.standard_normal((tax.n_tops, dim), dtype=np.float32))
    sub = _unit(
        shares[0] * top[tax.sub_top] + rng.standard_normal((tax.n_subs, dim), dtype=np.float32) / np.sqrt(dim)
    )
    own = rng.standard_normal((tax.n_leaves, dim), dtype=np.float32) / np.sqrt(dim)
    return _unit(shares[1] * sub[tax.leaf_sub] + own)


class VectorModel:
    """The fixed projections of one world: a direction per leaf (sharing its sub's and top's) in each space,
    and a direction per visible attribute in the image space."""

    def __init__(self, rng: np.random.Generator, tax: Taxonomy, legacy_dim: int, image_dim: int):
        self.tax = tax
        self.legacy_leaf = _hierarchy(rng, tax, legacy_dim, (1.2, 1.6))  # (L, legacy_dim): mostly sub and top
        self.image_leaf = _hierarchy(rng, tax, image_dim, (0.3, 3.0))  # (L, image_dim): mostly its sub
        visual = np.isin(np.array(tax.kinds)[tax.attr_kind], ("color", "material"))
        attr = _unit(rng.standard_normal((tax.n_attrs, image_dim), dtype=np.float32))
        self.image_attr = np.vstack(
            [attr * visual[:, None], np.zeros((1, image_dim), np.float32)]
        )  # (A+1, I)
        # Sibling leaves (same sub), for confusing one leaf with another.
        self._sub_start, self._sub_size = sibling_ranges(tax)

    def _sibling(self, rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
        confused = rng.random(len(leaf)) < SIBLING_CONFUSION
        other = self._sub_start[leaf] + (rng.random(len(leaf)) * self._sub_size[leaf]).astype(np.int64)
        return np.where(confused, other, leaf)

    def legacy(self, rng: np.random.Generator, items: Items, rows: slice, end_day: int) -> np.ndarray:
        """(n, legacy_dim) unit vectors for items[rows]."""
        leaf, leaf2 = self._sibling(rng, items.leaf[rows]), items.leaf2[rows]
        v = self.legacy_leaf[leaf]  # (n, L), a copy (fancy indexing)
        mixed = leaf2 != NONE
        v[mixed] = 0.75 * v[mixed] + 0.25 * self.legacy_leaf[leaf2[mixed]]
        age = end_day - items.created_day[rows]
        fresh = np.clip(1.0 - age / FRESH_DAYS, 0.0, 1.0)
        sigma = (2.5 + 3.0 * fresh).astype(np.float32)  # noise norm relative to the unit signal
        noise = rng.standard_normal(v.shape, dtype=np.float32) * (sigma / np.sqrt(v.shape[1]))[:, None]
        noise += _unit(v)
        return _unit(noise)

    def image(self, rng: np.random.Generator, items: Items, rows: slice) -> np.ndarray:
        """(n, image_dim) unit vectors: what the picture shows (leaf, second leaf, color, material) plus noise."""
        leaf, leaf2 = items.leaf[rows], items.leaf2[rows]
        v = self.image_leaf[leaf]  # (n, I), a copy
        mixed = leaf2 != NONE
        v[mixed] += 0.4 * self.image_leaf[leaf2[mixed]]
        v += (
            0.8 * self.image_attr[items.attr1[rows]] + 0.8 * self.image_attr[items.attr2[rows]]
        )  # NONE -> zeros
        v += rng.standard_normal(v.shape, dtype=np.float32) * (IMAGE_NOISE / np.sqrt(v.shape[1]))
        return _unit(v)
