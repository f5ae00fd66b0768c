"""The training objective as one module: encoders in, multi-task loss out.

Towers and loss live in one `nn.Module` so that DistributedDataParallel synchronizes every trainable
parameter, the shared temperature included. Tasks are data (`tasks_for`); this module only runs the
encoders once per step and hands each task its slice of the outputs.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from omnisage.losses.multitask import Collective, DatasetEmbeddings, MultiTaskLoss, Task, TowerEmbeddings
from omnisage.train.batches import TrainBatch
from omnisage.train.pairs import DATASETS


def tasks_for(per_step: dict[str, int], towers: tuple[str, ...]) -> list[Task]:
    """The tasks of each dataset (`per_step`: its pairs in a step): its entities through the learned tower and/or
    the legacy vectors, and query→query through the query encoder. Tasks of one dataset share its pairs.

    Each task weighs in the total loss by its dataset's share of the step's pairs, so the mix sets each task's
    influence (paper §3.5), not only its number of in-batch candidates: with every task at weight 1, Home Depot's
    full model (product 4 : query 1) scored Recall@10 0.580 on products, at its share 0.593 (+0.013, paired
    interval +0.006…+0.021), single task 0.611 (docs/real-data.md)."""
    total = sum(per_step.values())
    tasks: list[Task] = []
    for name, count in per_step.items():
        share = count / total
        entity_type = DATASETS[name][0]
        if entity_type == "query":
            if "query" in towers:
                tasks.append(Task(name, name, "query", share))
            continue
        if "entity" in towers:
            tasks.append(Task(name, name, "entity", share))
        if "legacy" in towers:
            tasks.append(Task(f"legacy_{name}", name, "legacy", share))
    return tasks


class TrainingObjective(nn.Module):
    """(model, loss) -> per-task losses of a `TrainBatch`. The model composes its towers
    (`encode_query_tokens`, `encode_entity_batch`) and names its trainable parts (`trainable_parts`)."""

    def __init__(self, model: nn.Module, loss: MultiTaskLoss):
        super().__init__()
        self.model, self.loss = model, loss

    def embed(self, batch: TrainBatch) -> dict[str, DatasetEmbeddings]:
        queries = self.model.encode_query_tokens(
            batch.query_tokens
        )  # (T, D) every query-encoder text of the step
        entities = (
            self.model.encode_entity_batch(batch.entities) if batch.entities is not None else None
        )  # (E, D)
        out: dict[str, DatasetEmbeddings] = {}
        for task in self.loss.tasks:
            data = batch.datasets.get(task.dataset)
            if data is None:
                continue
            if task.dataset not in out:
                out[task.dataset] = DatasetEmbeddings(
                    queries[data.query_rows], data.query_ids, data.positive_ids, data.negative_ids, {}
                )
            side = out[task.dataset]
            if task.tower == "query":
                side.towers[task.name] = TowerEmbeddings(
                    queries[data.positive_rows], queries[data.negative_rows]
                )
            elif task.tower == "entity":
                assert entities is not None, "the batch has no entity-encoder inputs"
                side.towers[task.name] = TowerEmbeddings(
                    entities[data.positive_rows], entities[data.negative_rows]
                )
            else:  # legacy: fixed vectors, no parameters; entities without one drop out
                side.towers[task.name] = TowerEmbeddings(
                    F.normalize(data.positive_legacy, dim=-1),  # (B, L)
                    F.normalize(data.negative_legacy, dim=-1),  # (R, L)
                    positive_weight=data.positive_has_legacy.float(),
                    negative_valid=data.negative_has_legacy,
                )
        return out

    def forward(self, batch: TrainBatch, collective: Collective | None = None) -> dict[str, Tensor]:
        return self.loss(self.embed(batch), collective)


def encoders_in_use(objective: TrainingObjective) -> dict[str, nn.Module]:
    """The modules with trainable parameters, by optimizer group name."""
    parts = objective.model.trainable_parts()
    modules: dict[str, nn.Module] = {"query_encoder": parts["query_encoder"], "loss": objective.loss}
    if any(t.tower == "entity" for t in objective.loss.tasks):
        modules["entity_encoder"] = parts["entity_encoder"]
    return modules
