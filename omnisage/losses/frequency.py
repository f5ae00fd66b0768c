"""Streaming frequency estimates for the logQ correction (paper §3.5): count-min sketches.

Training streams billions of pairs, so how often an entity shows up as a negative (or how often a query
leads to a given positive) is estimated on the fly: a count-min sketch of `depth` rows × `width` counters,
updated with every batch *before* the batch's own lookup, never shrinking. One set of sketches serves all
datasets; keys are salted with the dataset's index and each dataset keeps its own running total.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_MASK31 = (1 << 31) - 1


def _signed(x: int) -> int:
    """A uint64 constant as the int64 with the same bits (torch has no uint64 arithmetic)."""
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def _shift_right(x: Tensor, bits: int) -> Tensor:
    """Logical (unsigned) right shift of int64 bits."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def mix64(x: Tensor) -> Tensor:
    """SplitMix64's finalizer on int64 tensors (wrap-around arithmetic): a stable, well-spread 64-bit key."""
    z = x + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def pair_key(first: Tensor, second: Tensor) -> Tensor:
    """One int64 key per (first, second) pair of int64 ids, order-sensitive."""
    return mix64(mix64(first) + second)


class CountMinSketch(nn.Module):
    """Approximate counts of int64 keys: `update` adds, `forward` returns an upper bound on each key's count.

    State lives in buffers, so it follows the module to the device and into `state_dict` (checkpoints).
    """

    def __init__(self, width: int, depth: int = 2, seed: int = 0x5EED):
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError("count-min sketch width and depth must be positive")
        self.width, self.depth = width, depth
        gen = torch.Generator().manual_seed(seed)
        # Odd multipliers for multiply-shift hashing, one per row.
        multipliers = torch.randint(1, 1 << 62, (depth,), generator=gen, dtype=torch.int64) | 1
        self.register_buffer("multipliers", multipliers)
        self.register_buffer("counts", torch.zeros(depth, width, dtype=torch.int64))
        self.register_buffer("rows", torch.arange(depth))

    def extra_repr(self) -> str:
        return f"width={self.width}, depth={self.depth}"

    def _columns(self, keys: Tensor) -> Tensor:
        z = mix64(keys.reshape(-1, 1)) * self.multipliers  # (N, depth)
        return (_shift_right(z, 32) & _MASK31) % self.width  # (N, depth)

    @torch.no_grad()
    def update(self, keys: Tensor) -> None:
        """Count every key once (repeated keys count repeatedly)."""
        cols = self._columns(keys)  # (N, depth)
        rows = self.rows.expand_as(cols)  # (N, depth)
        self.counts.index_put_((rows, cols), torch.ones_like(cols), accumulate=True)

    @torch.no_grad()
    def forward(self, keys: Tensor) -> Tensor:
        """Estimated count of each key, same shape as `keys` (never below the true count)."""
        cols = self._columns(keys)  # (N, depth)
        return self.counts[self.rows.expand_as(cols), cols].min(dim=1).values.reshape(keys.shape)


class FrequencyEstimator(nn.Module):
    """The log sampling probabilities the logQ correction subtracts, from streaming counts.

    - `log_q_positive`: log P(p|q) = log C(q, p) - log C(q), the code's correction of the positive logit;
    - `log_q_negative`: log of the chance that entity n is among the N sampled candidates of a batch,
      ≈ N · C(n) / total (the first-order expansion of 1 - (1 - C(n)/total)^N, as the released code does).

    Counts are keyed by (dataset, id), so each dataset's counts and totals stay separate.
    """

    KINDS = ("pair", "query", "in_batch", "random")

    def __init__(self, datasets: list[str] | tuple[str, ...], width: int, depth: int = 2, seed: int = 0x5EED):
        super().__init__()
        self.datasets = tuple(datasets)
        self.sketches = nn.ModuleDict({kind: CountMinSketch(width, depth, seed) for kind in self.KINDS})
        self.register_buffer("totals", torch.zeros(len(self.KINDS), len(self.datasets), dtype=torch.int64))

    def _salted(self, dataset: str, ids: Tensor) -> Tensor:
        return pair_key(torch.full_like(ids, self.datasets.index(dataset)), ids)

    def _count(self, kind: str, dataset: str, seen: Tensor, lookup: Tensor) -> tuple[Tensor, Tensor]:
        """Add `seen` keys, then return the counts of `lookup` keys and the dataset's running total."""
        sketch = self.sketches[kind]
        sketch.update(self._salted(dataset, seen))
        k, d = self.KINDS.index(kind), self.datasets.index(dataset)
        self.totals[k, d] += seen.numel()
        return sketch(self._salted(dataset, lookup)).double(), self.totals[k, d].double()

    @torch.no_grad()
    def log_q_positive(
        self,
        dataset: str,
        query_ids: Tensor,
        positive_ids: Tensor,
        all_query_ids: Tensor,
        all_positive_ids: Tensor,
    ) -> Tensor:
        """log P(p|q) for this worker's pairs (B,), after counting every worker's pairs (`all_*`)."""
        pair_counts, _ = self._count(
            "pair", dataset, pair_key(all_query_ids, all_positive_ids), pair_key(query_ids, positive_ids)
        )
        query_counts, _ = self._count("query", dataset, all_query_ids, query_ids)
        return (pair_counts.log() - query_counts.log()).float()  # (B,)

    @torch.no_grad()
    def log_q_negative(self, dataset: str, kind: str, candidate_ids: Tensor) -> Tensor:
        """log q(n) for each of the N candidates (N,) of one kind ("in_batch" or "random"), counted first."""
        if candidate_ids.numel() == 0:  # e.g. train.negatives_per_pair = 0: in-batch candidates only
            return candidate_ids.new_zeros(0, dtype=torch.float32)
        counts, total = self._count(kind, dataset, candidate_ids, candidate_ids)
        return (counts.log() - total.log() + math.log(candidate_ids.numel())).float()  # (N,)
