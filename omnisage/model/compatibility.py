"""Compatibility with legacy embeddings (paper §3.4): query-embedding prefixes, renormalized.

The first L dims of a query embedding, renormalized, score directly against fixed legacy vectors of width L,
so a new query embedding retrieves from an old index by dot product. Nested prefixes (16, 32, ...) are what
the released code's Matryoshka-style losses train.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def prefix(embeddings: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, D) -> (B, dim) first `dim` components, L2-renormalized."""
    if not 0 < dim <= embeddings.shape[-1]:
        raise ValueError(f"prefix of {dim} dims from {embeddings.shape[-1]}-dim embeddings")
    return F.normalize(embeddings[..., :dim], dim=-1)


def nested_prefixes(embeddings: torch.Tensor, dims: Sequence[int]) -> dict[int, torch.Tensor]:
    """Every prefix in `dims` (e.g. 16, 32, ..., 512), each renormalized: {dim: (B, dim)}."""
    return {d: prefix(embeddings, d) for d in dims}


def prefix_numpy(embeddings: np.ndarray, dim: int) -> np.ndarray:
    """`prefix` for float32 arrays (batch inference, serving)."""
    head = np.asarray(embeddings, dtype=np.float32)[..., :dim]
    norms = np.linalg.norm(head, axis=-1, keepdims=True)
    return head / np.maximum(norms, 1e-12)
