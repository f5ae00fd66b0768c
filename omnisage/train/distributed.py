"""Distributed data parallel: torchrun workers, gloo on CPU and NCCL on GPU.

Every worker embeds its own share of the batch; the candidates of the loss (in-batch positives, random
negatives) are all-gathered *with gradients*, so each query sees the global batch as negatives, exactly
as one process holding the whole batch would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Workers:
    """This process's place among the training workers."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_workers(device: torch.device) -> Workers:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, ...), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Workers()
    workers = Workers(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=workers.rank, world_size=world_size)
    return workers


def shutdown_workers() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _AllGather(torch.autograd.Function):
    """Concatenate equal-shaped tensors of all workers; the backward pass sums the gradients every worker
    computed for a slice and hands each worker its own slice (gloo has no reduce-scatter: all-reduce)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.rank, ctx.size = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)  # (W·B, ...)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]  # (B, ...)


class DistributedCollective:
    """The loss's view of the other workers (`omnisage.losses.multitask.Collective`) under torch.distributed.

    Every worker must pass tensors of the same shape: the batch plan gives each one an equal share.
    """

    def __init__(self, workers: Workers):
        self.world_size = workers.world_size

    def gather(self, x: Tensor) -> Tensor:
        if x.requires_grad:
            return _AllGather.apply(x)
        if x.dtype == torch.bool:  # gloo cannot gather bool tensors
            return self.gather(x.to(torch.uint8)).bool()
        parts = [torch.empty_like(x) for _ in range(self.world_size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    def total(self, x: Tensor) -> Tensor:
        x = x.detach().clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x
