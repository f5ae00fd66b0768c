"""One DDP worker of the distributed test (spawned: must live in an importable module)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from train_toys import setup

from omnisage.config import TrainConfig
from omnisage.train.distributed import init_workers, shutdown_workers
from omnisage.train.loop import fit


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str, train_kwargs: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    workers = init_workers(torch.device("cpu"))
    train = TrainConfig(**train_kwargs)
    objective, builder = setup(train, world_size=world_size)
    fit(objective, builder, train, out_dir, workers=workers, progress=False)
    if workers.is_main:
        torch.save(objective.state_dict(), Path(out_dir) / "final.pt")
    shutdown_workers()
