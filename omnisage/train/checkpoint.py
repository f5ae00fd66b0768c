"""Training checkpoints for exact resume (SPEC §5): weights, optimizer, schedule, sketches, RNGs, position.

A checkpoint is one `torch.save` file written atomically (temp file + rename) by the main worker; every
worker's RNG states ride along, so a resumed run draws the same dropout masks as an uninterrupted one.
The batch plan is a function of the step, so the step number is the whole data position.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from omnisage.atomic import atomic_path
from omnisage.errors import OmniSageError

_NAME = re.compile(r"step-(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _all_rng_states() -> list[dict[str, Any]]:
    """Every worker's RNG state, in rank order (a collective: all workers must call it)."""
    mine = rng_state()
    if not (dist.is_available() and dist.is_initialized()):
        return [mine]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, mine)
    return out


def save_checkpoint(
    directory: str | Path, step: int, state: dict[str, Any], *, is_main: bool, keep: int = 2
) -> Path:
    """Write `state` + RNG states as `directory/step-N.pt` (main worker only; all workers must call)."""
    rngs = _all_rng_states()
    path = Path(directory) / f"step-{step:08d}.pt"
    if is_main:
        try:
            with atomic_path(path) as tmp:
                torch.save({**state, "step": step, "rng": rngs}, tmp)
        except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
            free = shutil.disk_usage(path.parent).free / 2**20
            raise OmniSageError(
                f"could not write checkpoint {path} ({free:.0f} MiB free on that disk): {exc}; "
                "free some space and rerun the same command to resume from the last complete checkpoint"
            ) from None
        for old in list_checkpoints(directory)[:-keep]:
            old.unlink(missing_ok=True)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return path


def list_checkpoints(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.search(p.name)]
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))  # type: ignore[union-attr]


def load_checkpoint(path: str | Path, *, rank: int = 0, world_size: int = 1) -> dict[str, Any]:
    """Read a checkpoint and restore this worker's RNG state from it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as exc:
        raise OmniSageError(f"cannot read checkpoint {path}: {exc}") from None
    rngs = state["rng"]
    if len(rngs) != world_size:
        raise OmniSageError(
            f"checkpoint {path} was written by {len(rngs)} workers, this run has {world_size}: "
            "resume with the same number of workers (or start a fresh output directory)"
        )
    set_rng_state(rngs[rank])
    return state
