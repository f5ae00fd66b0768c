"""Hash embedding bag (Svenstrup et al. 2017; paper §3.4): the text tower of the entity encoder.

Each token id is hashed by K stable functions into one shared table; its vector is the importance-weighted
sum of its K rows (weights learned per token). A bag of tokens is sum-pooled, then LayerNorm-ed. Memory is
`num_buckets × dim + num_tokens × K` instead of `num_tokens × dim`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from omnisage.text.hashing import hash_buckets

# One stable hash function per seed. Part of the bundle format: other seeds would scatter a saved model's tokens.
HASH_SEEDS = (0x5EED0001, 0x5EED0002)


class HashEmbeddingBag(nn.Module):
    """Bags of token ids -> (B, dim): `LayerNorm(Σ_tokens Σ_k w_k[id] · E[h_k(id)])`, zeros for empty bags."""

    def __init__(
        self, num_tokens: int, num_buckets: int = 100_000, dim: int = 256, seeds: Sequence[int] = HASH_SEEDS
    ):
        super().__init__()
        self.num_tokens, self.num_buckets, self.dim = num_tokens, num_buckets, dim
        self.seeds = tuple(int(s) for s in seeds)
        self.table = nn.Parameter(torch.randn(num_buckets, dim) * dim**-0.5)  # (buckets, dim)
        self.importance = nn.Parameter(torch.ones(num_tokens, len(self.seeds)))  # (V, K)
        # Derived from the seeds, so not saved: a bundle stores the seeds and rebuilds this table.
        buckets = torch.from_numpy(hash_buckets(torch.arange(num_tokens).numpy(), self.seeds, num_buckets))
        self.register_buffer("buckets", buckets, persistent=False)  # (V, K) int64
        self.norm = nn.LayerNorm(dim)

    def forward(self, token_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """token_ids (N,) int64, offsets (B,) int64 bag starts (as nn.EmbeddingBag) -> (B, dim)."""
        # Bag ends from tensors only (no torch.diff, no numel()): the ONNX export traces this with dynamic sizes.
        ends = torch.cat([offsets[1:], offsets.new_zeros(1) + token_ids.size(0)])  # (B,)
        if torch.onnx.is_in_onnx_export():
            rows = self.buckets[token_ids]  # (N, K)
            scale = self.importance[token_ids].to(self.table.dtype)  # (N, K)
            pooled = _bag_sums(self.table[rows], scale, offsets, ends)  # (B, dim)
        else:
            # Each distinct token's vector once, then the bags over those: a batch repeats its tokens many times
            # (4,096 generated items: 2.9M ids, 32k distinct), so this reads K times fewer rows, from a small table.
            distinct, local = _distinct(token_ids, self.num_tokens)  # (U,), (N,)
            k = len(self.seeds)
            table = self._table()
            vectors = F.embedding_bag(
                self.buckets[distinct].reshape(-1),  # (U*K,) a token's K rows side by side
                table,
                torch.arange(distinct.size(0), device=distinct.device) * k,
                mode="sum",
                per_sample_weights=self.importance[distinct].reshape(-1).to(table.dtype),  # (U*K,)
            )  # (U, dim)
            pooled = F.embedding_bag(local, vectors, offsets, mode="sum").to(self.table.dtype)  # (B, dim)
        empty = ends == offsets  # (B,)
        return self.norm(pooled).masked_fill(empty.unsqueeze(-1), 0.0)  # (B, dim)

    def _table(self) -> torch.Tensor:
        """The table a forward reads: itself, or under low-precision autocast without autograd (batch inference) a
        copy in that precision, cast once per version of the weights and kept. The rows a batch gathers are the
        encoder's largest memory traffic; in bf16 both bags run ~2x faster (bench_entity_encoder)."""
        table, kind = self.table, self.table.device.type
        if torch.is_grad_enabled() or not torch.is_autocast_enabled(kind):
            return table
        key = (table.data_ptr(), table._version, torch.get_autocast_dtype(kind))
        if getattr(self, "_cast_key", None) != key:
            self._cast, self._cast_key = table.detach().to(key[2]), key
        return self._cast

    def extra_repr(self) -> str:
        return f"tokens={self.num_tokens}, buckets={self.num_buckets}, dim={self.dim}, seeds={self.seeds}"


def _distinct(token_ids: torch.Tensor, num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct ids of a batch (U,) in increasing order and each id's position among them (N,). A big batch
    marks its ids in a (num_tokens,) table, linear in both; a small one (a query) sorts, not touching the table."""
    if token_ids.size(0) * 16 < num_tokens:
        return torch.unique(token_ids, return_inverse=True)
    seen = torch.zeros(num_tokens, dtype=torch.bool, device=token_ids.device)
    seen[token_ids] = True
    distinct = seen.nonzero().squeeze(1)  # (U,)
    position = torch.empty(num_tokens, dtype=torch.int64, device=token_ids.device)
    position[distinct] = torch.arange(distinct.size(0), device=token_ids.device)
    return distinct, position[token_ids]


def _bag_sums(
    vectors: torch.Tensor, scale: torch.Tensor, offsets: torch.Tensor, ends: torch.Tensor
) -> torch.Tensor:
    """What `F.embedding_bag` sums, as plain tensor algebra for the ONNX export (which turns an embedding bag into
    a Loop over bags): each token's weighted rows (N, K, dim) · (N, K) -> (N, dim), then a (B, N) membership
    matrix from the bags' bounds sums them per bag. Query batches are small, so the (B, N) matrix is too."""
    tokens = (vectors * scale.unsqueeze(-1)).sum(1)  # (N, dim)
    positions = torch.arange(tokens.size(0), device=offsets.device).unsqueeze(0)  # (1, N)
    membership = (positions >= offsets.unsqueeze(1)) & (positions < ends.unsqueeze(1))  # (B, N)
    return membership.to(tokens.dtype) @ tokens  # (B, dim)
