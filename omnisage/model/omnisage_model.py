"""The OmniSage model (paper §3.4): query encoder + unified pin/product encoder + the text pipeline they need.

Training builds one with `OmniSageModel.create`, trains `query_encoder` and `entity_encoder`, and saves it
with `omnisage.model.bundle.save_model`; batch inference and serving only call `encode_queries` and
`encode_entities` on what `load_model` returns.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from omnisage.config import ModelConfig
from omnisage.errors import OmniSageError
from omnisage.model.compatibility import prefix_numpy
from omnisage.model.entity_encoder import EntityEncoder
from omnisage.model.features import Entities, EntityBatch, EntityFeaturizer
from omnisage.model.lexical import LexicalChannel
from omnisage.model.query_encoder import QueryEncoder
from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary

ENTITY_CHUNK = 2048  # rows featurized and encoded at a time
TEXT_BUCKETS = 4  # length buckets of the entity text tower: HD titles pad a batch 2.5x, 4 buckets 1.35x


class OmniSageModel(nn.Module):
    def __init__(
        self,
        config: ModelConfig,
        vocab: Vocabulary,
        query_encoder: QueryEncoder,
        entity_encoder: EntityEncoder,
        version: str = "unsaved",
        lexical: LexicalChannel | None = None,
    ):
        """`lexical`: the lexical channel's weights, required when `config.query_lexical` (None = absent)."""
        super().__init__()
        self.config, self.vocab, self.version = config, vocab, version
        self.query_encoder, self.entity_encoder = query_encoder, entity_encoder
        text_tokenizer = TextTokenizer(vocab)
        if config.query_lexical:
            if lexical is None:
                raise OmniSageError("model.query_lexical is on but the model has no lexical channel weights")
            query_encoder.attach_lexical(lexical, entity_encoder.text.forward, text_tokenizer)
            entity_encoder.lexical = lexical.forward  # a bound method: the query encoder owns the weights
        tokenize_text = None
        if config.entity_text_tower == "query":
            # Shared weights: the same tower on both sides.
            entity_encoder.text_tower = functools.partial(
                query_encoder.forward_bucketed, buckets=TEXT_BUCKETS
            )
            limit = config.entity_text_max_tokens

            def tokenize_text(texts: list[str]) -> dict[str, torch.Tensor]:
                return query_encoder.tokenize(texts, max_tokens=limit, lexical=False)

        self.featurizer = EntityFeaturizer(text_tokenizer, config, tokenize_text)

    @classmethod
    def create(cls, config: ModelConfig, vocab: Vocabulary, seed: int = 0) -> OmniSageModel:
        """A new model: the pretrained query encoder of `config.query_encoder` (None = embedded MiniLM) with a
        fresh projection, and a freshly initialized entity encoder; seeded without touching the global RNG."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            query_encoder = QueryEncoder.from_pretrained(
                config.query_encoder,
                config.dim,
                config.max_query_tokens,
                pooling=config.query_pooling,
                projection=config.query_projection,
            )
            if config.query_trainable_layers is not None:
                query_encoder.freeze_below(config.query_trainable_layers)
            entity_encoder = EntityEncoder(len(vocab), config)
            lexical = LexicalChannel(config) if config.query_lexical else None
        return cls(config, vocab, query_encoder, entity_encoder, lexical=lexical)

    @property
    def device(self) -> torch.device:
        return self.entity_encoder.text.table.device

    def tokenize_queries(self, queries: Sequence[str]) -> dict[str, torch.Tensor]:
        """The query encoder's input dict (normalization included); what training feeds `query_encoder`."""
        return self.query_encoder.tokenize(queries)

    def encode_queries(
        self, queries: Sequence[str], batch_size: int = 256, dims: int | None = None
    ) -> np.ndarray:
        """(N, D) float32 unit vectors. `dims` keeps the first `dims` components, renormalized (compatibility
        with legacy embeddings of that width)."""
        with _evaluating(self):
            out = self.query_encoder.encode(list(queries), batch_size).cpu().numpy()
        return prefix_numpy(out, dims) if dims is not None else out

    def lexical_vectors(self, queries: Sequence[str]) -> np.ndarray:
        """(N, D) float32: each query's lexical-channel term P·bag(q) (model.query_lexical), the part the
        query vector adds to its unit transformer vector before the final L2; what an exported (ONNX)
        transformer needs beside it."""
        tokens = self.query_encoder.lexical_inputs(queries)
        with _evaluating(self):
            term = self.query_encoder.lexical_term({k: v.to(self.device) for k, v in tokens.items()})
            assert term is not None  # lexical_inputs raised if there is no channel
            return term.float().cpu().numpy()

    def encode_entities(self, entities: Entities, batch_size: int = ENTITY_CHUNK) -> np.ndarray:
        """Enriched pin/product rows (Arrow table or dicts) -> (N, D) float32 unit vectors.

        The next chunk is featurized on a helper thread while the encoder runs (torch releases the GIL).
        """
        n = entities.num_rows if isinstance(entities, pa.Table) else len(entities)
        chunks = [entities[i : i + batch_size] for i in range(0, n, batch_size)]
        out = np.zeros((n, self.config.dim), dtype=np.float32)
        with _evaluating(self), ThreadPoolExecutor(max_workers=1) as pool:
            for start, batch in zip(range(0, n, batch_size), _prefetched(pool, self.featurizer, chunks)):
                vectors = self.entity_encoder(batch.to(self.device))  # (b, D)
                out[start : start + len(batch)] = vectors.float().cpu().numpy()
        return out


def _prefetched(
    pool: ThreadPoolExecutor, featurizer: EntityFeaturizer, chunks: list
) -> Iterator[EntityBatch]:
    pending = pool.submit(featurizer, chunks[0]) if chunks else None
    for following in [*chunks[1:], None]:
        assert pending is not None
        batch = pending.result()
        pending = pool.submit(featurizer, following) if following is not None else None
        yield batch


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside the block; the module's previous mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)
