"""The OmniSage model (paper §3.4): query encoder + unified pin/product encoder + the text pipeline they need.

Training builds one with `OmniSageModel.create`, trains it through `encode_query_tokens` and
`encode_entity_batch` (the one place the towers and their extensions are composed), and saves it with
`omnisage.model.bundle.save_model`; batch inference and serving call `encode_queries` and `encode_entities`
on what `load_model` returns.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from omnisage.config import ModelConfig
from omnisage.errors import OmniSageError
from omnisage.model.compatibility import prefix_numpy
from omnisage.model.entity_encoder import EntityEncoder, legacy_vectors
from omnisage.model.features import Entities, EntityBatch, EntityFeaturizer
from omnisage.model.lexical import LexicalChannel, lexical_tokens
from omnisage.model.precision import autocast, autocast_dtype
from omnisage.model.query_encoder import QueryEncoder
from omnisage.text.tokenizers import LEXICAL_IDS, LEXICAL_OFFSETS, TextTokenizer
from omnisage.text.vocab import Vocabulary

ENTITY_CHUNK = 2048  # rows featurized and encoded at a time
TEXT_BUCKETS = 4  # length buckets of the entity text tower: HD titles pad a batch 2.5x, 4 buckets 1.35x


class OmniSageModel(nn.Module):
    """The query encoder, the entity encoder and the extensions `config` chooses, composed in one place:

    query  = normalize(normalize(transformer(q)) + P · bag(q))            (the lexical term if any)
    entity = normalize(base + MLP(...) + P · bag(text))                   (base: text tower, legacy or 0)
    """

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
        if config.query_lexical != (lexical is not None):
            given = "given" if lexical is not None else "not given"
            raise OmniSageError(
                f"model.query_lexical is {config.query_lexical} but the lexical weights are {given}"
            )
        self.config, self.vocab, self.version = config, vocab, version
        # Registered in this order: parameters() lists the query encoder, the lexical channel (trained at the
        # query encoder's lr), then the entity encoder.
        self.query_encoder = query_encoder
        self.lexical = lexical
        self.entity_encoder = entity_encoder
        self.text_tokenizer = TextTokenizer(vocab)  # item text and queries as the hash bag's token ids
        tokenize_text = None
        if config.entity_text_tower == "query":
            tokenize_text = functools.partial(
                query_encoder.tokenize, max_tokens=config.entity_text_max_tokens
            )
        self.featurizer = EntityFeaturizer(self.text_tokenizer, config, tokenize_text)

    @classmethod
    def create(cls, config: ModelConfig, vocab: Vocabulary, seed: int = 0) -> OmniSageModel:
        """A new model: the pretrained query encoder of `config.query_encoder` ("minilm" or a folder) with a
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

    def trainable_parts(self) -> dict[str, nn.Module]:
        """The modules with trainable parameters, by optimizer group: the lexical channel trains with the
        query encoder."""
        query_side = nn.ModuleList(
            [self.query_encoder] + ([self.lexical] if self.lexical is not None else [])
        )
        return {"query_encoder": query_side, "entity_encoder": self.entity_encoder}

    def tokenize_queries(self, queries: Sequence[str]) -> dict[str, torch.Tensor]:
        """`encode_query_tokens`' input: the query encoder's tokens (normalization included) and, with the
        lexical channel, the queries' hash-bag token ids (`lexical_ids` (N,), `lexical_offsets` (B,))."""
        tokens = self.query_encoder.tokenize(queries)
        if self.lexical is not None:
            tokens |= lexical_tokens(self.text_tokenizer, list(queries))
        return tokens

    def encode_query_tokens(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """`tokenize_queries` output -> (B, D) unit query vectors (what training and serving compute)."""
        inputs = {k: v for k, v in tokens.items() if k not in (LEXICAL_IDS, LEXICAL_OFFSETS)}
        return self.add_query_lexical(self.query_encoder(inputs), tokens)  # (B, D)

    def add_query_lexical(self, dense: torch.Tensor, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, D) unit transformer vectors -> normalize(dense + P·bag(q)); `dense` as is without the channel.
        The ONNX export traces this too (`omnisage.infer.export`): served vectors take the same path."""
        if self.lexical is None:
            return dense
        bags = self.entity_encoder.text(tokens[LEXICAL_IDS], tokens[LEXICAL_OFFSETS])  # (B, hash_dim)
        return F.normalize(dense + self.lexical(bags).to(dense.dtype), dim=-1)  # (B, D)

    def encode_entity_batch(self, batch: EntityBatch) -> torch.Tensor:
        """EntityBatch of B entities -> (B, D) unit vectors: normalize(base + MLP + lexical)."""
        text = self.entity_encoder.text_bag(batch)  # (B, H)
        out = self.entity_encoder.mlp_output(batch, text)  # (B, D)
        if self.lexical is not None:
            out = out + self.lexical(text)  # (B, D)
        if self.config.entity_text_tower == "query":  # shared weights: the query tower over the item's text
            if batch.text_tokens is None:
                raise OmniSageError(
                    "the entity text tower needs the batch's text tokens (EntityBatch.text_tokens)"
                )
            out = out + self.query_encoder.forward_bucketed(batch.text_tokens, TEXT_BUCKETS).to(out.dtype)
        elif self.config.legacy_residual:
            out = out + legacy_vectors(batch, self.config.legacy_dim).to(out.dtype)  # (B, D)
        return F.normalize(out.float(), dim=-1)  # (B, D) unit in float32, also under bf16 autocast

    def encode_queries(
        self, queries: Sequence[str], batch_size: int = 256, dims: int | None = None
    ) -> np.ndarray:
        """(N, D) float32 unit vectors. `dims` keeps the first `dims` components, renormalized (compatibility
        with legacy embeddings of that width)."""
        queries = list(queries)
        out = np.zeros((len(queries), self.config.dim), dtype=np.float32)
        with _evaluating(self):
            for start in range(0, len(queries), batch_size):
                tokens = self.tokenize_queries(queries[start : start + batch_size])
                vectors = self.encode_query_tokens(
                    {k: v.to(self.device) for k, v in tokens.items()}
                )  # (b, D)
                out[start : start + len(vectors)] = vectors.float().cpu().numpy()
        return prefix_numpy(out, dims) if dims is not None else out

    def encode_entities(
        self, entities: Entities, batch_size: int = ENTITY_CHUNK, precision: str = "auto"
    ) -> np.ndarray:
        """Enriched pin/product rows (Arrow table or dicts) -> (N, D) float32 unit vectors, `batch_size` rows
        per encoder call (`encode_entity_tables`)."""
        n = entities.num_rows if isinstance(entities, pa.Table) else len(entities)
        chunks = (entities[i : i + batch_size] for i in range(0, n, batch_size))
        parts = list(self.encode_entity_tables(chunks, precision))
        return np.concatenate(parts) if parts else np.zeros((0, self.config.dim), np.float32)

    def encode_entity_tables(
        self, tables: Iterable[Entities], precision: str = "auto"
    ) -> Iterator[np.ndarray]:
        """(b, D) float32 unit vectors of each table of rows in turn.

        The next table is featurized on a helper thread while the encoder runs (torch releases the GIL), so
        featurizing and encoding overlap on two cores. `precision` "auto" runs the encoder under bf16 autocast
        where the device computes bf16 natively: on the demo model ~2x faster, each vector within cosine 0.996
        of fp32's (mean 1.00000) and 99.7% of ten nearest neighbours the same; "fp32" computes exactly in float32.
        """
        if precision not in ("auto", "fp32", "bf16"):
            raise OmniSageError(f"precision must be auto, fp32 or bf16, got {precision!r}")
        amp = autocast_dtype(precision, self.device)
        with ThreadPoolExecutor(max_workers=1) as pool, _one_core_for_featurizing(self.device):
            for batch in _prefetched(pool, self.featurizer, iter(tables)):
                with _evaluating(self), autocast(self.device, amp):  # not across the yield: the caller's code
                    vectors = self.encode_entity_batch(batch.to(self.device)).cpu().numpy()  # (b, D)
                yield vectors


class QueryTower(nn.Module):
    """`OmniSageModel.encode_query_tokens` as a module, what the ONNX export traces: the transformer, the
    lexical term and the final L2 in one graph."""

    def __init__(self, model: OmniSageModel):
        super().__init__()
        self.model = model

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model.encode_query_tokens(tokens)  # (B, D)


def _prefetched(
    pool: ThreadPoolExecutor, featurizer: EntityFeaturizer, tables: Iterator[Entities]
) -> Iterator[EntityBatch]:
    """The featurized tables in order, the next one always in progress on `pool`."""
    table = next(tables, None)
    pending = pool.submit(featurizer, table) if table is not None else None
    while pending is not None:
        batch = pending.result()
        table = next(tables, None)
        pending = pool.submit(featurizer, table) if table is not None else None
        yield batch


@contextlib.contextmanager
def _one_core_for_featurizing(device: torch.device) -> Iterator[None]:
    """On a CPU, torch gets one intra-op thread less while the featurizing thread runs, restored after: with
    all of them, the encoder's threads and the featurizer fight over the cores (`bench_entity_encoder.py
    --threads 2` on 2 cores: 9,500-10,100 items/s with both threads, 12,500-12,700 with one)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield
        return
    torch.set_num_threads(threads - 1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside the block; the module's previous mode is restored after.

    A module already in eval mode (a loaded bundle, as served) is left alone: `eval()` and `train()` each visit
    every submodule, which cost ~0.5 ms per call on the default model, more than encoding one query."""
    if not module.training:
        with torch.inference_mode():
            yield
        return
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train()
