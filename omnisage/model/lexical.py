"""A lexical channel shared by both towers (`model.query_lexical`; ours, not the paper's), composed in
`OmniSageModel.encode_query_tokens` / `encode_entity_batch`.

The paper's entity encoder reads hashed n-gram bags of the item's text (titles, board titles, engaged queries),
but its query encoder is a transformer only: a query and an engaged query of the same words meet only through
what training teaches the transformer about the hash table, which takes far more pairs than a small catalog
has. With this channel the query's own n-gram bag goes through the *same* hash embedding bag as the items'
text, and one linear map P (hash_dim -> D) adds it to both sides before the final L2:

    query  = normalize(normalize(transformer(q)) + P · bag(q))
    entity = normalize(base + MLP(...) + P · bag(text))

so their dot product holds bag(q)ᵀ PᵀP bag(text). P starts with orthonormal columns scaled so a LayerNorm-ed
bag (norm sqrt(hash_dim)) maps to a unit vector: at step 0 that term is the cosine of
the two hashed n-gram bags (char trigrams, words, bigrams), a term match score, and training reweighs it. It
is still one vector per side, so indexes, caches and the compatibility prefix work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from omnisage.config import ModelConfig
from omnisage.text.tokenizers import LEXICAL_IDS, LEXICAL_OFFSETS, TextTokenizer


class LexicalChannel(nn.Module):
    """(B, hash_dim) hashed n-gram bags -> (B, D) additive term vectors: one bias-free linear map."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.projection = nn.Linear(config.hash_dim, config.dim, bias=False)
        with torch.no_grad():
            if config.dim >= config.hash_dim:
                nn.init.orthogonal_(self.projection.weight)  # PᵀP = I: bag cosines survive the map
            else:
                nn.init.normal_(self.projection.weight, std=config.dim**-0.5)  # PᵀP ≈ I
            self.projection.weight.mul_(config.hash_dim**-0.5)

    def forward(self, bags: torch.Tensor) -> torch.Tensor:
        return self.projection(bags)  # (B, D)


def lexical_tokens(tokenizer: TextTokenizer, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Queries as the entity encoder's token ids (the same vocabulary, the same analysis as item text)."""
    ids, offsets = tokenizer.encode_batch(list(texts))
    return {
        LEXICAL_IDS: torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)),  # (N,)
        LEXICAL_OFFSETS: torch.from_numpy(np.ascontiguousarray(offsets, dtype=np.int64)),  # (B,)
    }
