"""The relevance teacher (companion paper, SPEC §8): a cross-encoder fine-tuned on human labels of (query, item
text) pairs, then loaded to score pairs for silver labels and evaluation.

Training is resumable (checkpoints every N steps inside the teacher folder while it trains, the finished folder
replacing them atomically), seeded, shuffled in length buckets, bf16 where the device computes it natively.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from omnisage.config import RelevanceConfig
from omnisage.data.scale import RelevanceScale
from omnisage.errors import DataError, OmniSageError
from omnisage.model.precision import autocast, autocast_dtype
from omnisage.model.query_encoder import load_backbone
from omnisage.progress import tqdm
from omnisage.relevance.cross_encoder import (
    CHECKPOINTS,
    META,
    POOLINGS,
    CrossEncoder,
    load_folder,
    pair_lengths,
    read_meta,
    scores_of,
    teacher_loss,
    tokenize_pairs,
    write_folder,
)
from omnisage.relevance.query_context import QueryContext
from omnisage.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    remove_partial_writes,
    save_checkpoint,
)
from omnisage.train.loop import resolve_device
from omnisage.train.optim import make_optimizer, parameter_groups, warmup_linear

PAIR_COLUMNS = ("query_text", "item_text", "label")
# Batches drawn together, then cut by token count: on Home Depot text (batch 32) 1.06 padded tokens per real
# token instead of 1.71, and the order of batches still shuffled.
BUCKET_BATCHES = 16
WARMUP_SHARE = 0.1  # of the steps, linear warm-up; then linear decay to 0
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
Log = Callable[[str], None]


@dataclass
class TeacherScores:
    score: np.ndarray  # (N,) float64: the expected label on the teacher's scale
    probs: np.ndarray | None  # (N, C) float32 probabilities of the levels; None for a "mean" scale


class Teacher:
    """A trained teacher, in eval mode: scores (query, item text) pairs."""

    def __init__(self, model: CrossEncoder, tokenizer: Any, meta: dict[str, Any], path: Path, device: str):
        self.model, self.tokenizer, self.path = model.eval(), tokenizer, path
        self.scale = RelevanceScale.from_json(meta["scale"])
        self.max_tokens, self.version = int(meta["max_tokens"]), str(meta["version"])
        self.device = resolve_device(device)
        self.amp = autocast_dtype("auto", self.device)  # bf16 where native; None = fp32
        self.model.to(self.device)
        # The query text it was trained on (query_context.py): set by the pipeline that trained it.
        self.context: QueryContext | None = None

    def predict(
        self, queries: Sequence[str], texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> TeacherScores:
        """Scores of the pairs (queries[i], texts[i]), in order. Batches hold pairs of similar length (less
        padding); a pair's score does not depend on its batch beyond float rounding."""
        if len(queries) != len(texts):
            raise OmniSageError(f"teacher: {len(queries)} queries but {len(texts)} item texts")
        if self.context is not None:
            queries = self.context.texts(queries)
        lengths = pair_lengths(self.tokenizer, queries, texts, self.max_tokens)  # (N,)
        order = np.argsort(lengths, kind="stable")
        raw = torch.zeros(len(order), CrossEncoder.outputs_for(self.scale))  # (N, outputs)
        bar = tqdm(total=len(order), unit="pair", unit_scale=True, desc="teacher", disable=not progress)
        with torch.inference_mode(), autocast(self.device, self.amp):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                tokens = tokenize_pairs(
                    self.tokenizer, [queries[i] for i in rows], [texts[i] for i in rows], self.max_tokens
                )
                raw[torch.from_numpy(rows)] = self.model(_to(tokens, self.device)).float().cpu()
                bar.update(len(rows))
        bar.close()
        return TeacherScores(*scores_of(raw, self.scale))


def load_teacher(path: str | Path, *, device: str = "auto") -> Teacher:
    """The teacher folder `train_teacher` wrote; a missing, unfinished or damaged one is a one-line error."""
    model, tokenizer, meta = load_folder(Path(path))
    return Teacher(model, tokenizer, meta, Path(path), device)


def table_digest(table: pa.Table, columns: Sequence[str]) -> str:
    """A stable 16-hex-digit digest of the values of `columns`, in row order (chunking and slicing aside)."""
    digest = hashlib.sha256(f"{table.num_rows}:{','.join(columns)}".encode())
    for name in columns:
        column = table.column(name)
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
            digest.update(column.to_numpy().astype(np.float64).tobytes())
            continue
        array = column.cast(pa.large_string()).combine_chunks()
        offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + len(array) + 1]
        digest.update((offsets - offsets[0]).tobytes())
        data = array.buffers()[2]
        if data is not None:
            digest.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    return digest.hexdigest()[:16]


def train_teacher(
    pairs: pa.Table,
    scale: RelevanceScale,
    out: str | Path,
    cfg: RelevanceConfig,
    *,
    progress: bool = True,
    log: Log = print,
    checkpoint_every: int = 500,
    pooling: str = "mean",
    precision: str = "auto",
) -> Path:
    """Fine-tune `cfg.teacher_encoder` on `pairs` (query_text, item_text, label on `scale`) into the folder `out`.

    Rerun after a kill, it resumes from the last checkpoint (every `checkpoint_every` steps and at the end) as
    if uninterrupted; a finished folder trained with the same pairs and settings is returned as is, one with
    others is refused. precision "auto": bf16 autocast where the device computes bf16 natively, else fp32.
    """
    out = Path(out)
    if pooling not in POOLINGS:
        raise OmniSageError(f"teacher pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if precision not in ("auto", "bf16", "fp32"):
        raise OmniSageError(f"teacher precision must be auto, bf16 or fp32, got {precision!r}")
    if checkpoint_every < 1:
        raise OmniSageError(f"teacher checkpoint_every must be >= 1, got {checkpoint_every}")
    queries, texts, targets = _training_data(pairs, scale)
    settings = _settings(cfg, scale, pooling, pairs)
    if _finished(out, settings):
        log(f"teacher: {out} is already trained on these pairs with these settings; reusing it")
        return out
    torch.manual_seed(cfg.seed)
    device = resolve_device("auto")
    run = _Run(
        cfg, scale, pooling, settings, (queries, texts, targets), device, autocast_dtype(precision, device)
    )
    total = max(1, math.ceil(cfg.teacher_epochs * run.plan.per_epoch))
    run.start(total, out / CHECKPOINTS)
    resuming = f", resuming at step {run.first}" if run.first else ""
    log(
        f"teacher: {len(queries):,} pairs, {total:,} steps of {cfg.teacher_batch_size} on {device.type} "
        f"({run.precision}){resuming}"
    )
    summary = run.fit(total, out / CHECKPOINTS, checkpoint_every, progress)
    meta = {
        "scale": scale.to_json(),
        "pooling": pooling,
        "max_tokens": cfg.teacher_max_tokens,
        "settings": settings,
        "training": summary,
    }
    write_folder(out, run.model.to("cpu"), run.tokenizer, meta)
    log(f"teacher: wrote {out} (train loss {run.loss:.4f}, {summary['pairs_per_second']:,} pairs/s)")
    return out


class _BatchPlan:
    """The rows of each step: per epoch a seeded shuffle, cut into windows of BUCKET_BATCHES batches, each window
    sorted by token count and cut into batches, the batches shuffled. A function of the step alone, so the step
    number is the whole data position of a resume."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.per_epoch = -(-len(lengths) // batch_size)
        self._epoch, self._batches = -1, []

    def rows(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self._epoch_batches(epoch)
        return self._batches[i]

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order, size = rng.permutation(len(self.lengths)), self.batch_size
        batches = []
        for start in range(0, len(order), size * BUCKET_BATCHES):
            window = order[start : start + size * BUCKET_BATCHES]
            window = window[np.argsort(self.lengths[window], kind="stable")]
            batches += [window[i : i + size] for i in range(0, len(window), size)]
        return [batches[i] for i in rng.permutation(len(batches))]


class _Run:
    """One training run: the model, optimizer, schedule, batch plan and running loss (what a checkpoint holds)."""

    def __init__(
        self,
        cfg: RelevanceConfig,
        scale: RelevanceScale,
        pooling: str,
        settings: dict[str, Any],
        data: tuple[list[str], list[str], torch.Tensor],
        device: torch.device,
        amp: torch.dtype | None,
    ):
        try:
            backbone, self.tokenizer = load_backbone(cfg.teacher_encoder)
        except OmniSageError as exc:
            raise OmniSageError(f"relevance.teacher_encoder {cfg.teacher_encoder!r}: {exc}") from None
        self.queries, self.texts, self.targets = data
        self.model = CrossEncoder(backbone, CrossEncoder.outputs_for(scale), pooling)
        self.model.start_at_prior(self.targets, scale)
        self.model.to(device).train()
        groups = parameter_groups({"teacher": self.model}, {"teacher": cfg.teacher_lr}, WEIGHT_DECAY)
        self.optimizer = make_optimizer("adamw", groups)
        lengths = pair_lengths(self.tokenizer, self.queries, self.texts, cfg.teacher_max_tokens)  # (N,)
        self.plan = _BatchPlan(lengths, cfg.teacher_batch_size, cfg.seed)
        self.cfg, self.scale, self.pooling, self.settings = cfg, scale, pooling, settings
        self.device, self.amp, self.loss, self.first = device, amp, float("nan"), 0
        self.precision = "fp32" if amp is None else "bf16"

    def start(self, total: int, checkpoints: Path) -> None:
        """The schedule over `total` steps, and the state of the last checkpoint if there is one."""
        schedule = warmup_linear(math.ceil(WARMUP_SHARE * total), total)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        remove_partial_writes(checkpoints)
        saved = list_checkpoints(checkpoints)
        if not saved:
            return
        state = load_checkpoint(saved[-1])
        if state.get("settings") != self.settings:
            raise OmniSageError(
                f"{saved[-1]} was written by a run with other pairs or settings "
                f"({_differences(state.get('settings') or {}, self.settings)}); "
                f"use another out or delete {checkpoints.parent}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.first, self.loss = int(state["step"]), float(state["loss"])

    def fit(self, total: int, checkpoints: Path, every: int, progress: bool) -> dict[str, Any]:
        """Steps [first, total), a checkpoint every `every` steps and at the end; the training summary."""
        clock, pairs = time.perf_counter(), 0
        bar = tqdm(total=total, initial=self.first, unit="step", desc="teacher", disable=not progress)
        for step in range(self.first, total):
            pairs += self.step(step)
            bar.update(1)
            bar.set_postfix(loss=f"{self.loss:.4f}", refresh=False)
            if (step + 1) % every == 0 or step + 1 == total:
                save_checkpoint(checkpoints, step + 1, self.state(), is_main=True)
        bar.close()
        seconds = time.perf_counter() - clock
        return {
            "pairs": len(self.queries),
            "steps": total,
            "epochs": total / self.plan.per_epoch,
            "train_loss": self.loss,
            "resumed_from": self.first,
            "device": self.device.type,
            "precision": self.precision,
            "seconds": round(seconds, 1),
            "pairs_per_second": round(pairs / max(seconds, 1e-9), 1),
        }

    def step(self, step: int) -> int:
        """One optimizer step on the batch the plan gives `step`: forward, loss, backward, clip, update; the
        number of pairs it took."""
        rows = self.plan.rows(step)
        queries, texts = [self.queries[i] for i in rows], [self.texts[i] for i in rows]
        tokens = tokenize_pairs(self.tokenizer, queries, texts, self.cfg.teacher_max_tokens)
        with autocast(self.device, self.amp):
            raw = self.model(_to(tokens, self.device))  # (B, outputs)
        loss = teacher_loss(raw, self.targets[torch.from_numpy(rows)].to(self.device), self.scale)
        if not torch.isfinite(loss):
            raise OmniSageError(
                f"teacher training diverged: the loss is not finite at step {step}; "
                "lower relevance.teacher_lr and rerun to resume from the last checkpoint"
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        self.loss = value if math.isnan(self.loss) else 0.98 * self.loss + 0.02 * value  # mean of ~50 steps
        return len(rows)

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "settings": self.settings,
            "loss": self.loss,
        }


def _training_data(pairs: pa.Table, scale: RelevanceScale) -> tuple[list[str], list[str], torch.Tensor]:
    """(queries, item texts, targets: level indices or labels) of the training pairs, checked."""
    missing = [c for c in PAIR_COLUMNS if c not in pairs.column_names]
    if missing:
        raise DataError(f"teacher training pairs need columns {', '.join(PAIR_COLUMNS)}", column=missing[0])
    if pairs.num_rows == 0:
        raise DataError("teacher training pairs: no rows")
    for name in PAIR_COLUMNS:
        if pairs.column(name).null_count:
            raise DataError("teacher training pairs: empty value", column=name)
    labels = pairs.column("label").to_numpy().astype(np.float64)
    scale.check(labels, path="teacher training pairs")
    targets = torch.from_numpy(
        scale.level_index(labels) if scale.kind == "levels" else labels.astype(np.float32)
    )
    return pairs.column("query_text").to_pylist(), pairs.column("item_text").to_pylist(), targets


def _settings(cfg: RelevanceConfig, scale: RelevanceScale, pooling: str, pairs: pa.Table) -> dict[str, Any]:
    """What a teacher folder is a function of: a resume or a reuse must match it."""
    settings = {
        "encoder": str(cfg.teacher_encoder),
        "max_tokens": cfg.teacher_max_tokens,
        "epochs": cfg.teacher_epochs,
        "batch_size": cfg.teacher_batch_size,
        "lr": cfg.teacher_lr,
        "seed": cfg.seed,
        "pooling": pooling,
        "scale": scale.to_json(),
        "pairs": table_digest(pairs, PAIR_COLUMNS),
    }
    return json.loads(json.dumps(settings))  # as it reads back from JSON


def _finished(out: Path, settings: dict[str, Any]) -> bool:
    """True for a finished teacher of these settings; refuses one of other settings and a folder that is not a
    teacher's (whose files the finished teacher would replace)."""
    if (out / META).is_file():
        stored = read_meta(out).get("settings")
        if stored != settings:
            raise OmniSageError(
                f"{out} holds a teacher trained with other pairs or settings "
                f"({_differences(stored or {}, settings)}); use another out or delete it"
            )
        return True
    if out.exists() and (not out.is_dir() or any(p.name != CHECKPOINTS for p in out.iterdir())):
        raise OmniSageError(f"{out} exists and is not a teacher folder: train the teacher into a new folder")
    return False


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> str:
    keys = sorted({*stored, *current})
    return ", ".join(
        f"{k}: {stored.get(k, '(unset)')!r} -> {current.get(k, '(unset)')!r}"
        for k in keys
        if stored.get(k) != current.get(k)
    )


def _to(tokens: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in tokens.items()}
