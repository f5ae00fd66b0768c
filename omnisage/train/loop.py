"""The training loop: plain PyTorch, seeded, resumable, data parallel across torchrun workers.

`fit` runs steps [resume step, cfg.steps): batch from the plan, forward under autocast (bf16 where the device
computes it natively), backward, clip, optimizer and schedule step; metrics to `metrics.jsonl`, a checkpoint every
`checkpoint_every` steps and at the end. It never builds features: the `BatchBuilder` does.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from omnisage.atomic import make_folder, write_text
from omnisage.config import TrainConfig
from omnisage.errors import OmniSageError
from omnisage.losses.multitask import Collective, LocalCollective
from omnisage.model.precision import autocast, autocast_dtype
from omnisage.progress import tqdm
from omnisage.train.batches import TrainBatch
from omnisage.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    remove_partial_writes,
    save_checkpoint,
)
from omnisage.train.distributed import DistributedCollective, Workers
from omnisage.train.memory import reuse_freed_memory
from omnisage.train.objective import TrainingObjective, encoders_in_use
from omnisage.train.optim import make_optimizer, parameter_groups, warmup_cosine

METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"


def resolve_device(name: str, workers: Workers | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise OmniSageError("config train.device is cuda, but no CUDA device is available")
        return torch.device("cuda", workers.local_rank if workers else 0)
    return torch.device("cpu")  # train.device is checked where the config is built


@dataclass
class FitResult:
    steps: int  # the last step completed + 1
    resumed_from: int  # 0 for a fresh run
    last_losses: dict[str, float]
    pairs_per_second: float  # over the steps this call ran (global pairs, all workers)
    precision: str = "fp32"  # what the forward ran in: "bf16" (autocast) or "fp32"


def _write_jsonl_prefix(path: Path, keep_through: int) -> None:
    """Drop metric lines of steps after `keep_through` (they are re-run after a resume)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["step"] <= keep_through
    ]
    write_text(path, "".join(line + "\n" for line in kept))


def _global_mean(values: dict[str, float], workers: Workers, device: torch.device) -> dict[str, float]:
    if not workers.distributed:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return dict(zip(values, (t / workers.world_size).tolist()))


def _check_settings(stored: dict[str, Any] | None, current: dict[str, Any] | None, path: Path) -> None:
    if stored is None or current is None or stored == current:
        return
    pairs = {k: (stored.get(k, "(unset)"), current.get(k, "(unset)")) for k in sorted({*stored, *current})}
    shown = ", ".join(f"model.{k}: {a!r} -> {b!r}" for k, (a, b) in pairs.items() if a != b)
    raise OmniSageError(
        f"{path} was trained with other model settings ({shown}); use a new --out or delete {path.parent}"
    )


def fit(
    objective: TrainingObjective,
    make_batch: Callable[[int, int], TrainBatch],
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    workers: Workers | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    settings: dict[str, Any] | None = None,
) -> FitResult:
    """Train `objective` for `cfg.steps` steps in total, resuming from the latest checkpoint in `out_dir`.

    `stop_after` ends this call after that many steps (a checkpoint is written): used to test resumes.
    `settings` (the model's config) is stored in every checkpoint; a resume under other settings is refused
    rather than continuing weights that were trained for a different model.
    """
    workers = workers or Workers()
    device = device or torch.device("cpu")
    out_dir = Path(out_dir)
    objective.to(device)
    collective: Collective = DistributedCollective(workers) if workers.distributed else LocalCollective()
    module = _data_parallel(objective, workers, device)
    optimizer, schedule = _optimizer_and_schedule(objective, cfg)
    start = _resume(out_dir / CHECKPOINTS, objective, optimizer, schedule, workers, settings)
    metrics = _Metrics(out_dir, start, cfg.steps, workers, device, progress=progress)
    amp = autocast_dtype(cfg.precision, device)
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    module.train()
    last: dict[str, float] = {}
    # a step frees and reallocates the same large tensors: keep them in the heap (omnisage/train/memory.py)
    with reuse_freed_memory():
        for step in range(start, end):
            batch = make_batch(step, workers.rank).to(device)
            with autocast(device, amp):
                losses = module(batch, collective)
            _check_finite(losses["total"], step + 1, workers)
            grad_norm = _update(losses["total"], objective, optimizer, schedule, cfg.max_grad_norm)
            metrics.count(batch.num_pairs * workers.world_size)
            if (step + 1) % cfg.log_every == 0 or step + 1 == end:
                last = metrics.record(step + 1, losses, grad_norm, objective, schedule)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == end:
                state = _training_state(objective, optimizer, schedule, settings)
                save_checkpoint(out_dir / CHECKPOINTS, step + 1, state, is_main=workers.is_main)
    return FitResult(end, start, last, metrics.close(), "fp32" if amp is None else "bf16")


def _data_parallel(objective: TrainingObjective, workers: Workers, device: torch.device) -> torch.nn.Module:
    """What the step runs: the objective itself, or under torchrun its DistributedDataParallel wrapper."""
    if not workers.distributed:
        return objective
    # broadcast_buffers off: the frequency sketches see the same gathered ids on every worker anyway;
    # unused parameters exist (e.g. a transformer's pooler when the encoder takes the CLS state).
    with warnings.catch_warnings():  # its replacement still syncs buffers at init: not what we want
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        return DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
            find_unused_parameters=True,
        )


def _optimizer_and_schedule(
    objective: TrainingObjective, cfg: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimizer over the encoders in use (the query encoder at `query_lr`), and its warmup-cosine schedule."""
    lrs = {
        "query_encoder": cfg.query_lr if cfg.query_lr is not None else cfg.lr,
        "entity_encoder": cfg.lr,
        "loss": cfg.lr,
    }
    optimizer = make_optimizer(
        cfg.optimizer, parameter_groups(encoders_in_use(objective), lrs, cfg.weight_decay)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg.warmup_steps, cfg.steps))
    return optimizer, schedule


def _training_state(
    objective: TrainingObjective,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a checkpoint holds: all a resume needs to continue as if uninterrupted, and the model settings."""
    return {
        "objective": objective.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "settings": settings,
    }


def _resume(
    checkpoints: Path,
    objective: TrainingObjective,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    workers: Workers,
    settings: dict[str, Any] | None,
) -> int:
    """Load the latest checkpoint of `checkpoints` into the objective, optimizer and schedule; its step (0: none).
    A checkpoint write that a kill interrupted left a temp file: it goes."""
    if workers.is_main:
        remove_partial_writes(checkpoints)
    saved = list_checkpoints(checkpoints)
    if not saved:
        return 0
    state = load_checkpoint(saved[-1], rank=workers.rank, world_size=workers.world_size)
    _check_settings(state.get("settings"), settings, saved[-1])
    objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return int(state["step"])


def _check_finite(total: Tensor, step: int, workers: Workers) -> None:
    """Stop before a non-finite loss reaches the weights (and a checkpoint): every worker agrees, so none is
    left waiting in a collective."""
    bad = (~torch.isfinite(total.detach())).to(torch.float32).reshape(1)
    if workers.distributed:
        dist.all_reduce(bad, op=dist.ReduceOp.MAX)
    if bad.item():
        raise OmniSageError(
            f"training diverged: the loss is not finite at step {step}; no checkpoint was written after it: "
            "lower train.lr and rerun to resume from the last checkpoint"
        )


def _update(
    total: Tensor,
    objective: TrainingObjective,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    max_grad_norm: float | None,
) -> Tensor | None:
    """Backward, clip, optimizer and schedule step; returns the gradient norm before clipping (None: no clip)."""
    total.backward()
    grad_norm = None
    if max_grad_norm is not None:
        grad_norm = torch.nn.utils.clip_grad_norm_(objective.parameters(), max_grad_norm)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


class _Metrics:
    """The run's report: metrics.jsonl and the progress bar (main worker), global pairs per second.

    A resumed run first drops the lines of the steps after its checkpoint: they are run again.
    """

    def __init__(
        self, out_dir: Path, start: int, steps: int, workers: Workers, device: torch.device, *, progress: bool
    ) -> None:
        self.path, self.workers, self.device = out_dir / METRICS, workers, device
        if workers.is_main:
            make_folder(out_dir)
            _write_jsonl_prefix(self.path, start)
        show = progress and workers.is_main
        self.bar = tqdm(total=steps, initial=start, desc="train", unit="step", disable=not show)
        self.meter = _Throughput()

    def count(self, pairs: int) -> None:
        """A step is done: `pairs` global pairs."""
        self.meter.add(pairs)
        self.bar.update(1)

    def record(
        self,
        step: int,
        losses: dict[str, Tensor],
        grad_norm: Tensor | None,
        objective: TrainingObjective,
        schedule: torch.optim.lr_scheduler.LambdaLR,
    ) -> dict[str, float]:
        """The losses after `step` steps, averaged over workers; the main worker writes them with lr,
        temperature, gradient norm and pairs/s since the last line."""
        rate = self.meter.window_rate()
        values = _global_mean({k: float(v.detach()) for k, v in losses.items()}, self.workers, self.device)
        if self.workers.is_main:
            record = {
                "step": step,
                "loss": values["total"],
                "tasks": {k: v for k, v in values.items() if k != "total"},
                "lr": schedule.get_last_lr()[0],
                "temperature": float(1.0 / objective.loss.log_scale.detach().exp()),
                "grad_norm": float(grad_norm) if grad_norm is not None else None,
                "pairs_per_s": rate,
            }
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            self.bar.set_postfix(loss=f"{values['total']:.3f}", pairs_s=f"{rate:,.0f}")
        return values

    def close(self) -> float:
        """Closes the bar; the global pairs per second of the whole call."""
        self.bar.close()
        return self.meter.overall_rate()


class _Throughput:
    """Global pairs per second: over the whole call, and over the window since the last metric line."""

    def __init__(self) -> None:
        self.began = self.window_began = time.perf_counter()
        self.pairs = self.window_pairs = 0

    def add(self, pairs: int) -> None:
        self.pairs += pairs
        self.window_pairs += pairs

    def window_rate(self) -> float:
        """Since the last call (or the start); the next window starts now."""
        now = time.perf_counter()
        rate = self.window_pairs / max(now - self.window_began, 1e-9)
        self.window_pairs, self.window_began = 0, now
        return rate

    def overall_rate(self) -> float:
        elapsed = time.perf_counter() - self.began
        return self.pairs / elapsed if elapsed > 0 and self.pairs else 0.0
