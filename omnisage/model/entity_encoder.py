"""The unified pin/product encoder (paper §3.4, SPEC §4): one set of weights for both entity types.

Every text field goes through the same hash embedding bag; the field vectors are summed, concatenated with
the continuous features [legacy pin | legacy product | image] (zeros where a type lacks one; each block scaled
by sqrt(its width) to the text bag's per-dimension scale, `model.continuous_scale`), and an MLP
input -> 1024 -> 1024 -> D (ReLU + LayerNorm after each hidden layer) maps them to a unit vector. With
`legacy_residual` the MLP's output is added to the entity's legacy vector and starts at zero. With a text
tower (`model.entity_text_tower`, attached by the model: the query encoder itself) the MLP's output is added
to the tower's vector of the entity's own text instead, and also starts at zero. With the lexical channel
(`model.query_lexical`, attached by the model) the text bag also goes through it, linearly, and is added too.
With `model.field_weights` each field's bag is first multiplied by a learned weight of its own (starting at 1);
with `model.field_dropout` training drops each entity's field bags at random (never at inference). With
`model.field_sizes` the MLP also reads log(1 + entries) of each list field (board titles, engaged queries).
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

TEXT_TOWERS = ("none", "query")


class EntityEncoder(nn.Module):
    def __init__(self, num_tokens: int, config: ModelConfig):
        super().__init__()
        self.text = HashEmbeddingBag(num_tokens, config.hash_buckets, config.hash_dim, config.hash_seeds)
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
        # (F,) one weight per text field, in model.text_fields order; None: every field counts 1
        self.field_weight = (
            nn.Parameter(torch.ones(len(config.text_fields)))
            if config.field_weights and config.text_fields
            else None
        )
        if not 0.0 <= config.field_dropout < 1.0:
            raise OmniSageError(f"model.field_dropout must be in [0, 1), got {config.field_dropout}")
        self.field_dropout = config.field_dropout
        self.register_buffer("continuous_scale", _continuous_scale(config), persistent=False)  # (C,)
        self.legacy_residual, self.legacy_dim = config.legacy_residual, config.legacy_dim
        if config.entity_text_tower not in TEXT_TOWERS:
            raise OmniSageError(
                f"model.entity_text_tower: unknown {config.entity_text_tower!r} (known: {', '.join(TEXT_TOWERS)})"
            )
        if self.legacy_residual and not (config.use_legacy_features and config.legacy_dim == config.dim):
            raise OmniSageError("model.legacy_residual needs use_legacy_features and legacy_dim == dim")
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
            fields = self.text(batch.token_ids, batch.offsets).view(f, b, -1)  # (F, B, H)
            if self.field_weight is not None:
                if self.field_weight.numel() != f:
                    raise OmniSageError(
                        f"the entity batch has {f} text fields, model.field_weights has {self.field_weight.numel()}"
                    )
                fields = fields * self.field_weight.to(fields.dtype).view(f, 1, 1)  # (F, B, H)
            if self.training and self.field_dropout > 0:
                keep = torch.rand(f, b, 1, device=fields.device) >= self.field_dropout  # (F, B, 1)
                fields = fields * keep.to(fields.dtype)  # (F, B, H)
            text = fields.sum(0)  # (B, H)
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
    """(C,) factor per continuous input: sqrt(width) of its block for "sqrt_width", ones for "none"."""
    if config.continuous_scale not in ("sqrt_width", "none"):
        raise OmniSageError(
            f"model.continuous_scale must be 'sqrt_width' or 'none', got {config.continuous_scale!r}"
        )
    scaled = config.continuous_scale == "sqrt_width"
    factors = [torch.full((w,), w**0.5 if scaled else 1.0) for w in continuous_widths(config)]
    return torch.cat(factors) if factors else torch.zeros(0)
