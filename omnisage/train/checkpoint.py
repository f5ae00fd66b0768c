"""Training checkpoints for exact resume: weights, optimizer, schedule, sketches, RNGs, position.

A checkpoint is one safetensors file, `step-N.safetensors`, written atomically (temp file + rename) by the main
worker: every tensor (weights, sketch counts, optimizer moments, RNG states) is a named tensor, and the rest
(optimizer and schedule scalars, settings, step, Python RNG) is JSON in the file's metadata, pointing at its
tensors by name. Loading it runs no code, unlike a pickle. Every worker's RNG states ride along, so a resumed run
draws the same dropout masks as an uninterrupted one. The batch plan is a function of the step, so the step
number is the whole data position.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from omnisage.atomic import atomic_path
from omnisage.errors import OmniSageError, OutputError

_NAME = re.compile(r"step-(\d+)\.(safetensors|pt)$")  # .pt: a pickle of an older omnisage, refused on load
FORMAT = "omnisage-checkpoint/1"


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
    }
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


def _split(value: Any, tensors: dict[str, torch.Tensor], name: str) -> Any:
    """`value` as JSON-ready data, its tensors and arrays moved into `tensors` under their path `name`; tuples and
    dicts with non-string keys (an optimizer's parameter ids) are tagged so that `_join` gives them back as they
    were."""
    while name in tensors:  # a key with a dot in it could repeat another's path
        name += "'"
    if isinstance(value, torch.Tensor):
        tensors[name] = value.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(value, np.ndarray):  # numpy's RNG key (uint32): stored widened, given back in its dtype
        tensors[name] = torch.from_numpy(value.astype(np.int64))
        return {"__ndarray__": name, "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [_split(v, tensors, f"{name}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_split(v, tensors, f"{name}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        items = [[k, _split(v, tensors, f"{name}.{k}")] for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return dict(items)
        return {"__items__": items}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a checkpoint holds tensors and plain data, not {type(value).__name__} ({name})")


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies of the tensors whose memory an earlier one shares (tied weights): safetensors refuses those."""
    seen: set[int] = set()
    out = {}
    for name, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr()
        out[name] = tensor.clone() if tensor.numel() and pointer in seen else tensor
        seen.add(pointer)
    return out


def _join(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of `_split`."""
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return tensors[value["__ndarray__"]].numpy().astype(np.dtype(value["dtype"]))
    if "__tuple__" in value:
        return tuple(_join(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {k: _join(v, tensors) for k, v in value["__items__"]}
    return {k: _join(v, tensors) for k, v in value.items()}


def save_checkpoint(
    directory: str | Path, step: int, state: dict[str, Any], *, is_main: bool, keep: int = 2
) -> Path:
    """Write `state` + RNG states as `directory/step-N.safetensors` (main worker only; all workers must call)."""
    rngs = _all_rng_states()
    path = Path(directory) / f"step-{step:08d}.safetensors"
    if is_main:
        tensors: dict[str, torch.Tensor] = {}
        data = _split({**state, "step": step, "rng": rngs}, tensors, "")
        try:
            with atomic_path(path) as tmp:
                save_file(_unshared(tensors), tmp, metadata={"format": FORMAT, "state": json.dumps(data)})
        except (OutputError, SafetensorError) as exc:
            free = shutil.disk_usage(path.parent).free / 2**20 if path.parent.is_dir() else 0
            reason = exc.reason if isinstance(exc, OutputError) else str(exc).splitlines()[0]
            raise OmniSageError(
                f"could not write checkpoint {path} ({free:.0f} MiB free on that disk): {reason}; "
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


def remove_partial_writes(directory: str | Path) -> list[Path]:
    """Delete the temp files of checkpoint writes that a kill interrupted (main worker, before training)."""
    directory = Path(directory)
    partial = sorted(directory.glob(".step-*.tmp")) if directory.is_dir() else []
    for path in partial:
        path.unlink(missing_ok=True)
    return partial


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".pt":
        raise OmniSageError(
            f"checkpoint {path} is a pickle written by an older omnisage, which resume no longer loads (it could "
            f"run code): delete {path.parent} to train from the start, or train into a new --out"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 (not a dict)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        return _join(json.loads(meta["state"]), tensors)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OmniSageError(
            f"cannot read checkpoint {path} ({reason}): it is damaged; delete it to resume from the one before"
        ) from None


def load_checkpoint(path: str | Path, *, rank: int = 0, world_size: int = 1) -> dict[str, Any]:
    """Read a checkpoint and restore this worker's RNG state from it."""
    path = Path(path)
    state = _read(path)
    rngs = state["rng"]
    if len(rngs) != world_size:
        raise OmniSageError(
            f"checkpoint {path} was written by {len(rngs)} workers, this run has {world_size}: "
            "resume with the same number of workers (or start a fresh output directory)"
        )
    set_rng_state(rngs[rank])
    return state
