"""Continuous features of the synthetic world (issue 2; paper §3.3): legacy embeddings, a fixed noisy projection
of an item's interests that is coarse-heavy, blind to attributes and weaker for new items (PinSage/ItemSage
stand-ins), and image embeddings that see the leaf and the visible attributes (color, material).
"""

from __future__ import annotations

import numpy as np

from omnisage.data.synth_latent import NONE, Items, Taxonomy

FRESH_DAYS = 180  # items younger than this at the end of the logs get noisier legacy embeddings


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class VectorModel:
    """The fixed projections of one world: one random direction per top, sub, leaf and visible attribute."""

    def __init__(self, rng: np.random.Generator, tax: Taxonomy, legacy_dim: int, image_dim: int):
        self.tax = tax
        normal = rng.standard_normal
        self.top = _unit(normal((tax.n_tops, legacy_dim), dtype=np.float32))  # (T, L)
        self.sub = _unit(normal((tax.n_subs, legacy_dim), dtype=np.float32))  # (S, L)
        self.leaf = _unit(normal((tax.n_leaves, legacy_dim), dtype=np.float32))  # (Lf, L)
        self.image_leaf = _unit(normal((tax.n_leaves, image_dim), dtype=np.float32))  # (Lf, I)
        visual = np.isin(np.array(tax.kinds)[tax.attr_kind], ("color", "material"))
        attr = _unit(normal((tax.n_attrs, image_dim), dtype=np.float32))
        self.image_attr = np.vstack(
            [attr * visual[:, None], np.zeros((1, image_dim), np.float32)]
        )  # (A+1, I)

    def _interest(self, leaf: np.ndarray) -> np.ndarray:
        """Coarse-heavy interest direction: mostly top-level, some sub, a little leaf."""
        sub = self.tax.leaf_sub[leaf]
        return _unit(0.6 * self.top[self.tax.leaf_top[leaf]] + 0.3 * self.sub[sub] + 0.15 * self.leaf[leaf])

    def legacy(self, rng: np.random.Generator, items: Items, rows: slice, end_day: int) -> np.ndarray:
        """(n, legacy_dim) unit vectors for items[rows]."""
        leaf, leaf2 = items.leaf[rows], items.leaf2[rows]
        v = self._interest(leaf)  # (n, L)
        mixed = leaf2 != NONE
        if mixed.any():
            v[mixed] = 0.75 * v[mixed] + 0.25 * self._interest(leaf2[mixed])
        age = end_day - items.created_day[rows]
        fresh = np.clip(1.0 - age / FRESH_DAYS, 0.0, 1.0)
        sigma = (0.55 + 1.0 * fresh).astype(np.float32)  # noise norm relative to the unit signal
        noise = rng.standard_normal(v.shape, dtype=np.float32) * (sigma / np.sqrt(v.shape[1]))[:, None]
        return _unit(_unit(v) + noise).astype(np.float32)

    def image(self, rng: np.random.Generator, items: Items, rows: slice) -> np.ndarray:
        """(n, image_dim) unit vectors: what the picture shows (leaf, second leaf, color, material) plus noise."""
        leaf, leaf2 = items.leaf[rows], items.leaf2[rows]
        v = self.image_leaf[leaf].copy()  # (n, I)
        mixed = leaf2 != NONE
        v[mixed] += 0.4 * self.image_leaf[leaf2[mixed]]
        v += (
            0.6 * self.image_attr[items.attr1[rows]] + 0.6 * self.image_attr[items.attr2[rows]]
        )  # NONE -> zeros
        v += rng.standard_normal(v.shape, dtype=np.float32) * (0.7 / np.sqrt(v.shape[1]))
        return _unit(v).astype(np.float32)
