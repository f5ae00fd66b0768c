"""The unified pin/product encoder (paper §3.4, SPEC §4): one set of weights for both entity types.

Every text field goes through the same hash embedding bag; the field vectors are summed, concatenated with
the continuous features [legacy pin | legacy product | image] (zeros where a type lacks one; each block scaled
by sqrt(its width) to the text bag's per-dimension scale), and an MLP
input -> 1024 -> 1024 -> D (ReLU + LayerNorm after each hidden layer) maps them to a unit vector. With
`legacy_residual` the MLP's output is added to the entity's legacy vector and starts at zero. With a text
tower (`model.entity_text_tower`, attached by the model: the query encoder itself) the MLP's output is added
to the tower's vector of the entity's own text instead, and also starts at zero. With the lexical channel
(`model.query_lexical`, attached by the model) the text bag also goes through it, linearly, and is added too.
With `model.field_sizes` the MLP also reads log(1 + entries) of each list field (board titles, engaged queries).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from omnisage.config import ModelConfig
from omnisage.errors import OmniSageError
from omnisage.model.features import EntityBatch, continuous_dim, continuous_widths, size_fields
from omnisage.model.hash_embedding import HashEmbeddingBag


class EntityEncoder(nn.Module):
    def __init__(self, num_tokens: int, config: ModelConfig):
        super().__init__()
        self.text = HashEmbeddingBag(num_tokens, config.hash_buckets, config.hash_dim)
        hidden = config.mlp_hidden
        self.num_sizes = len(size_fields(config))
        self.mlp = nn.Sequential(
            nn.Linear(config.hash_dim + continuous_dim(config) + self.num_sizes, hidden),
            nn.ReLU(),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, config.dim),
        )
        self.register_buffer("continuous_scale", _continuous_scale(config), persistent=False)  # (C,)
        self.legacy_residual, self.legacy_dim = config.legacy_residual, config.legacy_dim
        if self.legacy_residual and config.legacy_dim != config.dim:
            raise OmniSageError(
                f"model.legacy_residual needs legacy_dim == dim, got {config.legacy_dim} and {config.dim}"
            )
        if self.legacy_residual or config.entity_text_tower != "none":
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)
        # Tokens of the entity's text -> (B, D) unit vectors. A plain attribute, not a submodule: the tower
        # is the query encoder, whose weights the model saves, trains and moves once, as the query tower.
        self.text_tower: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None
        # (B, hash_dim) text bag -> (B, D): the lexical channel, owned (trained, saved) by the query encoder.
        self.lexical: Callable[[torch.Tensor], torch.Tensor] | None = None

    def forward(self, batch: EntityBatch) -> torch.Tensor:
        """EntityBatch of B entities -> (B, D) unit vectors."""
        b, f = len(batch), batch.num_fields
        if f:
            text = self.text(batch.token_ids, batch.offsets).view(f, b, -1).sum(0)  # (F, B, H) -> (B, H)
        else:
            text = batch.continuous.new_zeros(b, self.text.dim)  # (B, H)
        continuous = batch.continuous.to(text.dtype) * self.continuous_scale.to(text.dtype)  # (B, C)
        x = torch.cat([text, continuous], dim=-1)  # (B, H + C)
        if self.num_sizes:
            if batch.sizes is None or batch.sizes.shape[1] != self.num_sizes:
                raise OmniSageError(
                    f"model.field_sizes: the entity batch carries no sizes for its {self.num_sizes} list fields"
                )
            x = torch.cat([x, batch.sizes.to(x.dtype)], dim=-1)  # (B, H + C + S)
        out = self.mlp(x)  # (B, D)
        if self.lexical is not None:
            out = out + self.lexical(text)  # (B, D)
        if self.text_tower is not None:
            if batch.text_tokens is None:
                raise OmniSageError(
                    "the entity text tower needs the batch's text tokens (EntityBatch.text_tokens)"
                )
            out = out + self.text_tower(batch.text_tokens).to(out.dtype)  # (B, D)
        elif self.legacy_residual:
            legacy = batch.continuous[:, : 2 * self.legacy_dim].view(b, 2, self.legacy_dim).sum(1)  # (B, L)
            out = out + F.normalize(legacy, dim=-1).to(out.dtype)  # a pin's or a product's, the other is 0
        return F.normalize(out, dim=-1)  # (B, D)


def _continuous_scale(config: ModelConfig) -> torch.Tensor:
    """(C,) factor per continuous input: sqrt(width) of its block, so a unit-vector block is on the text bag's
    per-dimension scale (without it the MLP hardly sees the continuous features once any text is present)."""
    factors = [torch.full((w,), w**0.5) for w in continuous_widths(config)]
    return torch.cat(factors) if factors else torch.zeros(0)
