"""The multi-task loss (paper §3.5): one sampled softmax per task, summed, one learned temperature.

A task is data: a dataset of (query, entity) pairs and the tower that embeds its entities. Tasks of one
dataset share its pairs, its random negatives and its logQ estimates; each task adds two cross-entropies
(in-batch candidates, random catalog candidates) per nested embedding prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnisage.losses.frequency import FrequencyEstimator
from omnisage.losses.sampled_softmax import accidental_hits, sampled_softmax_loss

# Towers: the learned pin/product encoder, the fixed legacy vectors (compatibility), the query encoder.
TOWERS = ("entity", "legacy", "query")


@dataclass(frozen=True)
class Task:
    name: str  # e.g. "pin", "legacy_pin", "query"
    dataset: str  # the pairs it trains on: "pin", "product_onsite", "product_offsite", "query"
    tower: str  # one of TOWERS
    weight: float = 1.0  # multiplies the task's loss in the total


@dataclass
class TowerEmbeddings:
    """One task's candidate side for one batch: its pairs' positives and the dataset's random negatives."""

    positive: Tensor  # (B, E) unit vectors
    negative: Tensor  # (R, E)
    positive_weight: Tensor | None = None  # (B,) 0 drops the pair (e.g. no legacy vector)
    negative_valid: Tensor | None = None  # (R,) False: never use this candidate


@dataclass
class DatasetEmbeddings:
    """One dataset's share of a batch on this worker, embedded by every tower its tasks need."""

    query: Tensor  # (B, D) query embeddings of the pairs' queries
    query_ids: Tensor  # (B,) int64
    positive_ids: Tensor  # (B,) int64, in the entity type's id space
    negative_ids: Tensor  # (R,) int64
    towers: dict[str, TowerEmbeddings]  # task name -> candidate side


class Collective(Protocol):
    """How a loss sees the other workers: identity in one process, all-gather under DDP."""

    world_size: int

    def gather(self, x: Tensor) -> Tensor:
        """Concatenate every worker's `x` along dim 0; gradients flow back to each worker's slice."""
        ...

    def total(self, x: Tensor) -> Tensor:
        """Sum of a (no-grad) tensor over workers."""
        ...


class LocalCollective:
    world_size = 1

    def gather(self, x: Tensor) -> Tensor:
        return x

    def total(self, x: Tensor) -> Tensor:
        return x


class MultiTaskLoss(nn.Module):
    """Sum over tasks of the logQ-corrected sampled softmax, with one learned temperature for all tasks.

    Each task of a dataset scores this worker's B queries against two candidate sets gathered from all W
    workers: the in-batch positives (N = W·B) and the dataset's random negatives (N = W·R). Per set and prefix:

                     positive  │ candidates c_1 … c_N
        query q_1  [ s(q1,p1)  │ s(q1,c1)   -inf       s(q1,c3)  … ]    s(q,c) = scale · cos(q, c) − log q(c)
        query q_2  [ s(q2,p2)  │ s(q2,c1)   s(q2,c2)   -inf      … ]    (column 0: − log P(p|q))
          …                                                               (B, 1+N), cross-entropy on column 0

    -inf marks a candidate that is no negative of the row: its own positive, a positive of a pair of the same
    query (in-batch), the query itself (query→query), an entity without a legacy vector (legacy tasks).

    `prefix_weights` gives the nested (Matryoshka) prefixes of the learned towers, e.g. the released code's
    ((16, .05), (32, .05), (64, .05), (128, .05), (256, 1.), (512, 1.)); empty means the full width only.
    A compatibility (legacy) task always scores the first L dims of the query embedding, renormalized,
    against the L-dim legacy vectors. `sketch_width=None` drops the correction (every log q is 0): a plain
    in-batch softmax, which ranked better on Home Depot (docs/real-data.md).
    """

    def __init__(
        self,
        tasks: list[Task] | tuple[Task, ...],
        *,
        sketch_width: int | None,
        sketch_depth: int = 2,
        temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        prefix_weights: tuple[tuple[int, float], ...] = (),
        mask_same_query: bool = True,
    ):
        super().__init__()
        for task in tasks:
            if task.tower not in TOWERS:
                raise ValueError(
                    f"task {task.name}: unknown tower {task.tower!r} (known: {', '.join(TOWERS)})"
                )
        self.tasks = tuple(tasks)
        self.datasets = tuple(dict.fromkeys(t.dataset for t in self.tasks))
        self.prefix_weights = tuple((int(d), float(w)) for d, w in prefix_weights)
        self.max_log_scale = math.log(max_logit_scale)
        self.mask_same_query = mask_same_query
        # CLIP-style: the scale is learned in log space, initialized at 1 / temperature.
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.frequencies = (
            None
            if sketch_width is None
            else FrequencyEstimator(self.datasets, width=sketch_width, depth=sketch_depth)
        )

    def logit_scale(self) -> Tensor:
        with torch.no_grad():
            self.log_scale.clamp_(max=self.max_log_scale)
        return self.log_scale.exp()

    def _prefixes(self, tower: str, query_dim: int, candidate_dim: int) -> list[tuple[int, float]]:
        if tower == "legacy":
            return [(candidate_dim, 1.0)]
        nested = [(d, w) for d, w in self.prefix_weights if d <= min(query_dim, candidate_dim)]
        return nested or [(min(query_dim, candidate_dim), 1.0)]

    def forward(
        self, batch: dict[str, DatasetEmbeddings], collective: Collective | None = None
    ) -> dict[str, Tensor]:
        """Per-task losses and their sum under "total"; updates the frequency sketches (call once per step)."""
        collective = collective or LocalCollective()
        scale = self.logit_scale()
        losses: dict[str, Tensor] = {}
        for dataset in self.datasets:
            if dataset not in batch:
                continue
            data = batch[dataset]
            shared = self._shared_candidates(dataset, data, collective)
            for task in self.tasks:
                if task.dataset == dataset:
                    losses[task.name] = task.weight * self._task_loss(task, data, shared, scale, collective)
        if not losses:
            raise ValueError("the batch holds no pairs for any task")
        losses["total"] = torch.stack(list(losses.values())).sum()
        return losses

    def _shared_candidates(
        self, dataset: str, data: DatasetEmbeddings, collective: Collective
    ) -> _SharedCandidates:
        """The ids, log q and accidental hits every task of `dataset` shares (updates its sketches)."""
        all_query_ids = collective.gather(data.query_ids)  # (W·B,)
        all_positive_ids = collective.gather(data.positive_ids)  # (W·B,)
        all_negative_ids = collective.gather(data.negative_ids)  # (W·R,)
        if self.frequencies is None:
            log_q_positive = log_q_in_batch = log_q_random = None
        else:
            log_q_positive = self.frequencies.log_q_positive(
                dataset, data.query_ids, data.positive_ids, all_query_ids, all_positive_ids
            )  # (B,)
            log_q_in_batch = self.frequencies.log_q_negative(dataset, "in_batch", all_positive_ids)  # (W·B,)
            log_q_random = self.frequencies.log_q_negative(dataset, "random", all_negative_ids)  # (W·R,)
        in_batch_hits = accidental_hits(
            data.positive_ids,
            all_positive_ids,
            data.query_ids if self.mask_same_query else None,
            all_query_ids if self.mask_same_query else None,
        )  # (B, W·B)
        random_hits = accidental_hits(data.positive_ids, all_negative_ids)  # (B, W·R)
        return _SharedCandidates(
            all_positive_ids,
            all_negative_ids,
            log_q_positive,
            log_q_in_batch,
            log_q_random,
            in_batch_hits,
            random_hits,
        )

    def _task_loss(
        self,
        task: Task,
        data: DatasetEmbeddings,
        shared: _SharedCandidates,
        scale: Tensor,
        collective: Collective,
    ) -> Tensor:
        """One task's loss (before its weight): per nested prefix, the in-batch and the random sampled softmax."""
        side = data.towers[task.name]
        weight = side.positive_weight
        if weight is None:
            weight = torch.ones(data.query_ids.shape[0], device=data.query.device)
        weight = weight.float()  # (B,)
        normalizer = collective.total(weight.sum().detach()) / collective.world_size
        all_positive = collective.gather(side.positive)  # (W·B, E)
        all_negative = collective.gather(side.negative)  # (W·R, E)
        in_mask, rnd_mask = _candidate_masks(task, data, side, shared, collective)
        task_loss = data.query.new_zeros((), dtype=torch.float32)
        for dim, prefix_weight in self._prefixes(task.tower, data.query.shape[1], side.positive.shape[1]):
            query = F.normalize(data.query[:, :dim].float(), dim=-1)  # (B, dim)
            positive = F.normalize(side.positive[:, :dim].float(), dim=-1)  # (B, dim)
            for candidates, log_q, mask in (
                (all_positive, shared.log_q_in_batch, in_mask),
                (all_negative, shared.log_q_random, rnd_mask),
            ):
                if candidates.shape[0] == 0:  # no random negatives (train.negatives_per_pair = 0)
                    continue
                task_loss = task_loss + prefix_weight * sampled_softmax_loss(
                    query,
                    positive,
                    F.normalize(candidates[:, :dim].float(), dim=-1),  # (N, dim)
                    logit_scale=scale,
                    log_q_positive=shared.log_q_positive,
                    log_q_candidates=log_q,
                    mask=mask,
                    row_weight=weight,
                    normalizer=normalizer,
                )
        return task_loss


@dataclass
class _SharedCandidates:
    """What the tasks of one dataset share in a step: the gathered candidate ids, their log q, the hits."""

    positive_ids: Tensor  # (W·B,) every worker's positives: the in-batch candidates
    negative_ids: Tensor  # (W·R,) every worker's random negatives
    log_q_positive: Tensor | None  # (B,) log P(positive | query) of this worker's pairs; None: no correction
    log_q_in_batch: Tensor | None  # (W·B,)
    log_q_random: Tensor | None  # (W·R,)
    in_batch_hits: Tensor  # (B, W·B) bool
    random_hits: Tensor  # (B, W·R) bool


def _candidate_masks(
    task: Task,
    data: DatasetEmbeddings,
    side: TowerEmbeddings,
    shared: _SharedCandidates,
    collective: Collective,
) -> tuple[Tensor, Tensor]:
    """(B, W·B) and (B, W·R) bool: the in-batch and random candidates that are no negative of each row."""
    in_mask, rnd_mask = shared.in_batch_hits, shared.random_hits
    if task.tower == "query":  # query→query: a query is never its own negative
        in_mask = in_mask | (data.query_ids[:, None] == shared.positive_ids[None, :])
        rnd_mask = rnd_mask | (data.query_ids[:, None] == shared.negative_ids[None, :])
    if side.positive_weight is not None:  # a dropped pair's entity is no candidate either
        in_mask = in_mask | ~collective.gather(side.positive_weight > 0)[None, :]
    if side.negative_valid is not None:
        rnd_mask = rnd_mask | ~collective.gather(side.negative_valid)[None, :]
    return in_mask, rnd_mask
