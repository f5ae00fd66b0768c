"""Checkpoints: tensors in safetensors and the rest as JSON, read back exactly; loading one runs no code; a damaged
one is one clear error; a write a kill interrupted leaves nothing that the next run trips on."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from train_toys import setup

from omnisage.cli import main
from omnisage.config import TrainConfig
from omnisage.errors import OmniSageError
from omnisage.train.checkpoint import FORMAT, list_checkpoints, load_checkpoint, save_checkpoint
from omnisage.train.loop import CHECKPOINTS, fit

TRAIN = TrainConfig(
    batch_size=16, sketch_width=1 << 10, steps=4, warmup_steps=1, log_every=1, checkpoint_every=2
)


def test_state_round_trips_exactly_with_its_types(tmp_path) -> None:
    tied = torch.arange(6.0).reshape(2, 3)
    state = {
        "objective": {
            "a.weight": tied,
            "b.weight": tied,
            "empty": torch.zeros(0),
            "bf16": torch.ones(2).bfloat16(),
        },
        "optimizer": {
            "state": {0: {"step": torch.tensor(3.0)}},
            "param_groups": [{"betas": (0.9, 0.999), "lr": 0.1}],
        },
        "settings": {"dims": (8, 16), "name": "x", "nothing": None, "ratio": 1 / 3},
    }
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    path = save_checkpoint(tmp_path, 5, state, is_main=True)
    want = (random.random(), np.random.random(), torch.rand(1))
    with safe_open(str(path), framework="pt") as fh:  # a safetensors file, the rest in its metadata
        assert fh.metadata()["format"] == FORMAT
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    got = load_checkpoint(path)
    assert (random.random(), np.random.random(), torch.rand(1)) == want  # every RNG restored
    assert got["step"] == 5 and got["settings"] == state["settings"]
    assert got["optimizer"]["state"][0]["step"].item() == 3.0  # integer parameter ids stay integers
    assert got["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for key, tensor in state["objective"].items():
        assert got["objective"][key].dtype == tensor.dtype and torch.equal(got["objective"][key], tensor)


class _Payload:
    """What a malicious pickle does on load: here, leave a file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_an_old_pickle_checkpoint_is_refused_without_running_it(tmp_path) -> None:
    """Resume used to torch.load(weights_only=False) whatever step-N.pt it found: arbitrary code."""
    folder = tmp_path / CHECKPOINTS
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "step-00000009.pt").write_bytes(pickle.dumps({"step": 9, "x": _Payload(str(marker))}))
    objective, builder = setup(TRAIN)
    with pytest.raises(OmniSageError, match=r"step-00000009\.pt is a pickle written by an older omnisage"):
        fit(objective, builder, TRAIN, tmp_path, progress=False)
    assert not marker.exists()


def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path) -> None:
    objective, builder = setup(TRAIN)
    fit(objective, builder, TRAIN, tmp_path, progress=False, stop_after=2)
    (latest,) = list_checkpoints(tmp_path / CHECKPOINTS)
    latest.write_bytes(latest.read_bytes()[:-100])  # cut short
    with pytest.raises(OmniSageError) as info:
        fit(objective, builder, TRAIN, tmp_path, progress=False)
    message = str(info.value)
    assert message.startswith(f"cannot read checkpoint {latest} (") and "\n" not in message
    latest.write_bytes(b"\x00" * 64)  # garbage
    with pytest.raises(OmniSageError, match=r"cannot read checkpoint .*step-00000002\.safetensors"):
        fit(objective, builder, TRAIN, tmp_path, progress=False)


def test_a_temp_file_left_by_a_kill_is_removed_on_the_next_run(tmp_path) -> None:
    objective, builder = setup(TRAIN)
    fit(objective, builder, TRAIN, tmp_path, progress=False, stop_after=2)
    left = tmp_path / CHECKPOINTS / ".step-00000004.safetensors.k1ll3d.tmp"
    left.write_bytes(b"half a checkpoint")
    result = fit(objective, builder, TRAIN, tmp_path, progress=False)
    assert result.resumed_from == 2 and result.steps == 4
    assert sorted(p.name for p in (tmp_path / CHECKPOINTS).iterdir()) == [
        "step-00000002.safetensors",
        "step-00000004.safetensors",
    ]


def test_cli_train_reports_a_damaged_checkpoint_in_one_line(tmp_path, capsys) -> None:
    folder = tmp_path / "out" / CHECKPOINTS
    folder.mkdir(parents=True)
    (folder / "step-00000003.safetensors").write_bytes(b"not a checkpoint")
    world = tmp_path / "world"
    assert main(["synth", "--out", str(world), "--scale", "200", "--seed", "1", "--config", "tiny"]) == 0
    capsys.readouterr()
    argv = [
        "train",
        "--data",
        str(world),
        "--out",
        str(tmp_path / "out"),
        "--config",
        "tiny",
        "--no-progress",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"omnisage train: error: cannot read checkpoint {folder / 'step-00000003.safetensors'}"
    )
    assert "\n" not in err
