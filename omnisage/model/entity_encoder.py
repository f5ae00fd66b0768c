"""The unified pin/product encoder (paper §3.4, SPEC §4): one set of weights for both entity types.

Every text field goes through the same hash embedding bag; the field vectors are summed, concatenated with
the continuous features [legacy pin | legacy product | image] (zeros where a type lacks one), and an MLP
input -> 1024 -> 1024 -> D (ReLU + LayerNorm after each hidden layer) maps them to a unit vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from omnisage.config import ModelConfig
from omnisage.model.features import EntityBatch, continuous_dim
from omnisage.model.hash_embedding import HashEmbeddingBag


class EntityEncoder(nn.Module):
    def __init__(self, num_tokens: int, config: ModelConfig):
        super().__init__()
        self.text = HashEmbeddingBag(num_tokens, config.hash_buckets, config.hash_dim, config.hash_seeds)
        hidden = config.mlp_hidden
        self.mlp = nn.Sequential(
            nn.Linear(config.hash_dim + continuous_dim(config), hidden),
            nn.ReLU(),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, config.dim),
        )

    def forward(self, batch: EntityBatch) -> torch.Tensor:
        """EntityBatch of B entities -> (B, D) unit vectors."""
        b, f = len(batch), batch.num_fields
        if f:
            fields = self.text(batch.token_ids, batch.offsets)  # (F*B, H)
            text = fields.view(f, b, -1).sum(0)  # (B, H)
        else:
            text = batch.continuous.new_zeros(b, self.text.dim)  # (B, H)
        x = torch.cat([text, batch.continuous.to(text.dtype)], dim=-1)  # (B, H + C)
        return F.normalize(self.mlp(x), dim=-1)  # (B, D)
