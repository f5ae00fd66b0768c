"""The unified pin/product encoder (paper §3.4): one set of weights for both entity types.

Every text field goes through the same hash embedding bag; the field vectors are summed, concatenated with
the continuous features [legacy pin | legacy product | image] (zeros where a type lacks one; each block scaled
by sqrt(its width) to the text bag's per-dimension scale) and, with `model.field_sizes`, log(1 + entries) of
each list field (board titles, engaged queries); an MLP input -> 1024 -> 1024 -> D (ReLU + LayerNorm after
each hidden layer) maps them to a unit vector. The extensions (a text tower, the lexical channel, the legacy
residual) are added to the MLP's output by `OmniSageModel.encode_entity_batch`; with either base vector the
MLP's last layer starts at zero, so training starts from that base.
"""

from __future__ import annotations

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
        if config.legacy_residual and config.legacy_dim != config.dim:
            raise OmniSageError(
                f"model.legacy_residual needs legacy_dim == dim, got {config.legacy_dim} and {config.dim}"
            )
        if config.legacy_residual or config.entity_text_tower != "none":
            # The MLP's output is added to a base vector (OmniSageModel): start from the base, not from noise.
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def text_bag(self, batch: EntityBatch) -> torch.Tensor:
        """(B, H) the sum of the entity's field bags (zeros without text fields)."""
        b, f = len(batch), batch.num_fields
        if not f:
            return batch.continuous.new_zeros(b, self.text.dim)  # (B, H)
        return self.text(batch.token_ids, batch.offsets).view(f, b, -1).sum(0)  # (F, B, H) -> (B, H)

    def mlp_output(self, batch: EntityBatch, text: torch.Tensor) -> torch.Tensor:
        """(B, D) the MLP over [text bag | scaled continuous | sizes], before the final L2."""
        continuous = batch.continuous.to(text.dtype) * self.continuous_scale.to(text.dtype)  # (B, C)
        x = torch.cat([text, continuous], dim=-1)  # (B, H + C)
        if self.num_sizes:
            if batch.sizes is None or batch.sizes.shape[1] != self.num_sizes:
                raise OmniSageError(
                    f"model.field_sizes: the entity batch carries no sizes for its {self.num_sizes} list fields"
                )
            x = torch.cat([x, batch.sizes.to(x.dtype)], dim=-1)  # (B, H + C + S)
        return self.mlp(x)  # (B, D)

    def forward(self, batch: EntityBatch) -> torch.Tensor:
        """EntityBatch of B entities -> (B, D) unit vectors: the paper's encoder alone."""
        return F.normalize(self.mlp_output(batch, self.text_bag(batch)), dim=-1)  # (B, D)


def legacy_vectors(batch: EntityBatch, legacy_dim: int) -> torch.Tensor:
    """(B, L) each entity's unit legacy vector (a pin's or a product's block; the other block is 0)."""
    b = len(batch)
    legacy = batch.continuous[:, : 2 * legacy_dim].view(b, 2, legacy_dim).sum(1)  # (B, L)
    return F.normalize(legacy, dim=-1)


def _continuous_scale(config: ModelConfig) -> torch.Tensor:
    """(C,) factor per continuous input: sqrt(width) of its block, so a unit-vector block is on the text bag's
    per-dimension scale (without it the MLP hardly sees the continuous features once any text is present)."""
    factors = [torch.full((w,), w**0.5) for w in continuous_widths(config)]
    return torch.cat(factors) if factors else torch.zeros(0)
