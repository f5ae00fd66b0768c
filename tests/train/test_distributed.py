"""Data parallel: 2 gloo workers on CPU train exactly like one process holding the global batch."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from conftest import HERE
from train_ddp_worker import ddp_worker
from train_toys import setup

from omnisage.config import TrainConfig
from omnisage.train.loop import fit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_workers_equal_one_process_on_the_global_batch(tmp_path, monkeypatch):
    # fp32: bf16 rounding differs with how the batch is split, and this compares the two runs to 1e-5
    common = dict(
        sketch_width=1 << 10,
        steps=3,
        warmup_steps=1,
        lr=3e-3,
        log_every=1,
        checkpoint_every=100,
        precision="fp32",
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    mp.spawn(
        ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp"), {**common, "batch_size": 16}), nprocs=2
    )

    single_cfg = TrainConfig(batch_size=32, **common)
    objective, builder = setup(single_cfg)
    fit(objective, builder, single_cfg, tmp_path / "single", progress=False)

    ddp, single = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert len(ddp) == len(single) == 3
    for a, b in zip(ddp, single):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        for task in b["tasks"]:
            assert a["tasks"][task] == pytest.approx(b["tasks"][task], rel=1e-5, abs=1e-6)
    ddp_state = torch.load(tmp_path / "ddp" / "final.pt")
    for key, value in objective.state_dict().items():
        assert torch.allclose(ddp_state[key].double(), value.double(), atol=1e-5), key
