"""The teacher's network and its folder (companion paper's teacher, SPEC §8): `[CLS] query [SEP] item text`
through a Hugging Face encoder, the mean of its token states, a small dense head fitting the label scale.

A "levels" scale gets one logit per level, learned with cross-entropy; a "mean" scale (Home Depot's mean of
raters) gets one output squashed into [low, high], learned with squared error. Pooling is the mean of the token
states rather than [CLS]: the embedded encoder (all-MiniLM-L6-v2) was trained with mean pooling, so its mean
is a meaningful summary from the first step while its [CLS] state is not; [CLS] stays available for an encoder
trained to use it.

A teacher folder: the encoder and tokenizer (`save_pretrained`), `head.safetensors`, and `teacher.json` (format,
scale, pooling, max_tokens, version, the settings it was trained with, a training summary), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from omnisage.atomic import atomic_folder, write_text
from omnisage.data.scale import RelevanceScale
from omnisage.errors import OmniSageError
from omnisage.model.query_encoder import load_backbone, pool, save_backbone
from omnisage.text.normalize import normalize

POOLINGS = ("mean", "cls")
FORMAT, FORMAT_VERSION = "omnisage-teacher", 1
META, HEAD, CHECKPOINTS = "teacher.json", "head.safetensors", "checkpoints"


def tokenize_pairs(
    tokenizer: Any, queries: Sequence[str], texts: Sequence[str], max_tokens: int
) -> dict[str, torch.Tensor]:
    """The one tokenization of (query, item text) pairs, for training and scoring alike: both normalized,
    `[CLS] query [SEP] text [SEP]`, the longer side cut first to fit `max_tokens`, padded to the longest."""
    return dict(_encode(tokenizer, queries, texts, max_tokens, padding=True, return_tensors="pt"))


def pair_lengths(
    tokenizer: Any, queries: Sequence[str], texts: Sequence[str], max_tokens: int, chunk: int = 4096
) -> np.ndarray:
    """(N,) token count of each pair as `tokenize_pairs` cuts it, without padding: what batches are sorted by
    (characters are a poor stand-in: on Home Depot text, sorting by them leaves 1.41 padded tokens per real
    token in a batch of 32, sorting by tokens 1.06)."""
    lengths: list[int] = []
    for start in range(0, len(queries), chunk):
        ids = _encode(tokenizer, queries[start : start + chunk], texts[start : start + chunk], max_tokens)
        lengths += [len(row) for row in ids["input_ids"]]
    return np.asarray(lengths, dtype=np.int64)


def _encode(
    tokenizer: Any, queries: Sequence[str], texts: Sequence[str], max_tokens: int, **options: Any
) -> Any:
    return tokenizer(
        [normalize(q) for q in queries],
        [normalize(t) for t in texts],
        truncation="longest_first",
        max_length=max_tokens,
        **options,
    )


class CrossEncoder(nn.Module):
    """Token ids of (query, item text) pairs -> (B, outputs) raw head outputs: logits or one pre-squash value."""

    def __init__(self, backbone: nn.Module, outputs: int, pooling: str = "mean", dropout: float = 0.1):
        super().__init__()
        self.backbone, self.pooling = backbone, pooling
        width = backbone.config.hidden_size
        self.head = nn.Sequential(
            nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, outputs)
        )

    @staticmethod
    def outputs_for(scale: RelevanceScale) -> int:
        return scale.n_classes if scale.kind == "levels" else 1

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = pool(
            self.backbone(**tokens).last_hidden_state, tokens["attention_mask"], self.pooling
        )  # (B, H)
        return self.head(pooled)  # (B, outputs)

    @torch.no_grad()
    def start_at_prior(self, targets: torch.Tensor, scale: RelevanceScale) -> None:
        """Set the output bias so that the untrained head predicts the training labels' prior (the class
        frequencies, or the mean label): the first steps then learn from the pairs, not the label marginal."""
        last = self.head[-1]
        if scale.kind == "levels":
            counts = torch.bincount(targets.long(), minlength=scale.n_classes).float() + 1.0  # (C,) smoothed
            last.bias.copy_(torch.log(counts / counts.sum()))
        else:
            share = float(((targets.float().mean() - scale.low) / (scale.high - scale.low)).clamp(0.01, 0.99))
            last.bias.fill_(math.log(share / (1 - share)))


def teacher_loss(raw: torch.Tensor, targets: torch.Tensor, scale: RelevanceScale) -> torch.Tensor:
    """Pointwise loss of raw head outputs (B, outputs): cross-entropy against level indices (B,) for a "levels"
    scale, squared error against labels (B,) for a "mean" scale."""
    if scale.kind == "levels":
        return F.cross_entropy(raw.float(), targets.long())
    return F.mse_loss(squash(raw.float()[:, 0], scale), targets.float())


def squash(raw: torch.Tensor, scale: RelevanceScale) -> torch.Tensor:
    """A "mean" head's raw output (B,) -> a label in [low, high]."""
    return scale.low + (scale.high - scale.low) * torch.sigmoid(raw)


def scores_of(raw: torch.Tensor, scale: RelevanceScale) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw head outputs (N, outputs) -> (expected label (N,) float64, class probabilities (N, C) float32 or
    None for a "mean" scale)."""
    raw = raw.float()
    if scale.kind == "levels":
        probs = torch.softmax(raw, dim=-1).numpy()  # (N, C)
        return scale.expected(probs), probs.astype(np.float32)
    return squash(raw[:, 0], scale).numpy().astype(np.float64), None


def write_folder(out: Path, model: CrossEncoder, tokenizer: Any, meta: dict[str, Any]) -> None:
    """The teacher folder (replacing whatever `out` held, its checkpoints); its version hashes every file and
    `meta` (scale, pooling, max_tokens, settings, training summary)."""
    with atomic_folder(out) as tmp:
        save_backbone(model.backbone, tokenizer, tmp)
        save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, tmp / HEAD)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
        files = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        meta["version"] = hashlib.sha256(json.dumps([files, meta], sort_keys=True).encode()).hexdigest()[:16]
        write_text(tmp / META, json.dumps(meta, indent=2) + "\n")


def load_folder(path: Path) -> tuple[CrossEncoder, Any, dict[str, Any]]:
    """(network, tokenizer, teacher.json) of a teacher folder; anything amiss is a one-line error naming it."""
    meta = read_meta(path)
    try:
        backbone, tokenizer = load_backbone(path)
        head = load_file(path / HEAD)
        scale = RelevanceScale.from_json(meta["scale"])
        model = CrossEncoder(backbone, CrossEncoder.outputs_for(scale), meta["pooling"])
        model.head.load_state_dict(head)
    except (OmniSageError, OSError, SafetensorError, RuntimeError) as exc:
        raise OmniSageError(f"teacher {path}: cannot load it ({first_line(exc)})") from None
    return model, tokenizer, meta


def read_meta(path: Path) -> dict[str, Any]:
    """teacher.json of a finished teacher folder, checked."""
    if not path.is_dir():
        raise OmniSageError(f"teacher {path}: no such folder")
    if not (path / META).is_file():
        if (path / CHECKPOINTS).is_dir():
            raise OmniSageError(
                f"teacher {path}: its training did not finish (no {META}); rerun it to resume"
            )
        raise OmniSageError(f"teacher {path}: not a teacher folder (no {META})")
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OmniSageError(f"teacher {path}: unreadable {META} ({first_line(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise OmniSageError(f"teacher {path}: {META} is not an omnisage teacher's")
    if meta.get("format_version") != FORMAT_VERSION:
        raise OmniSageError(
            f"teacher {path}: format version {meta.get('format_version')}, this omnisage reads "
            f"version {FORMAT_VERSION}: train the teacher again"
        )
    if meta.get("pooling") not in POOLINGS or not isinstance(meta.get("max_tokens"), int):
        raise OmniSageError(f"teacher {path}: {META} lacks a valid pooling or max_tokens")
    RelevanceScale.from_json(meta.get("scale"), where=f"teacher {path / META}: scale")
    return meta


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
