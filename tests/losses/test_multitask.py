"""Multi-task loss: equals the per-task sampled softmaxes it is made of; prefixes, compatibility, temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from omnisage.losses.frequency import FrequencyEstimator
from omnisage.losses.multitask import DatasetEmbeddings, MultiTaskLoss, Task, TowerEmbeddings
from omnisage.losses.sampled_softmax import accidental_hits, sampled_softmax_loss


def _unit(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=gen), dim=-1)


def _batch(gen: torch.Generator, b: int = 6, r: int = 12, d: int = 16, legacy: int = 8) -> DatasetEmbeddings:
    return DatasetEmbeddings(
        query=_unit(gen, b, d),
        query_ids=torch.tensor([0, 0, 1, 2, 3, 4])[:b],
        positive_ids=torch.tensor([10, 11, 11, 12, 13, 14])[:b],
        negative_ids=torch.randint(0, 30, (r,), generator=gen),
        towers={
            "pin": TowerEmbeddings(_unit(gen, b, d), _unit(gen, r, d)),
            "legacy_pin": TowerEmbeddings(
                _unit(gen, b, legacy),
                _unit(gen, r, legacy),
                positive_weight=torch.tensor([1.0, 1, 0, 1, 1, 1]),
                negative_valid=torch.arange(r) % 3 != 0,
            ),
        },
    )


TASKS = [Task("pin", "pin", "entity"), Task("legacy_pin", "pin", "legacy")]


def test_equals_the_sum_of_hand_assembled_sampled_softmaxes():
    gen = torch.Generator().manual_seed(0)
    data = _batch(gen)
    loss_fn = MultiTaskLoss(TASKS, sketch_width=1 << 16)
    losses = loss_fn({"pin": data})

    est = FrequencyEstimator(["pin"], width=1 << 16)
    lq_pos = est.log_q_positive("pin", data.query_ids, data.positive_ids, data.query_ids, data.positive_ids)
    lq_in = est.log_q_negative("pin", "in_batch", data.positive_ids)
    lq_rnd = est.log_q_negative("pin", "random", data.negative_ids)
    in_mask = accidental_hits(data.positive_ids, data.positive_ids, data.query_ids, data.query_ids)
    rnd_mask = accidental_hits(data.positive_ids, data.negative_ids)
    scale = 1 / 0.07

    pin = data.towers["pin"]
    expected_pin = sampled_softmax_loss(
        data.query,
        pin.positive,
        pin.positive,
        logit_scale=scale,
        log_q_positive=lq_pos,
        log_q_candidates=lq_in,
        mask=in_mask,
    ) + sampled_softmax_loss(
        data.query,
        pin.positive,
        pin.negative,
        logit_scale=scale,
        log_q_positive=lq_pos,
        log_q_candidates=lq_rnd,
        mask=rnd_mask,
    )
    assert torch.allclose(losses["pin"], expected_pin, atol=1e-5)

    legacy = data.towers["legacy_pin"]
    keep = legacy.positive_weight > 0
    query8 = F.normalize(data.query[:, :8], dim=-1)  # compatibility: the first L dims, renormalized
    expected_legacy = sampled_softmax_loss(
        query8[keep],
        legacy.positive[keep],
        legacy.positive,
        logit_scale=scale,
        log_q_positive=lq_pos[keep],
        log_q_candidates=lq_in,
        mask=(in_mask | ~keep[None, :])[keep],
    ) + sampled_softmax_loss(
        query8[keep],
        legacy.positive[keep],
        legacy.negative,
        logit_scale=scale,
        log_q_positive=lq_pos[keep],
        log_q_candidates=lq_rnd,
        mask=(rnd_mask | ~legacy.negative_valid[None, :])[keep],
    )
    assert torch.allclose(losses["legacy_pin"], expected_legacy, atol=1e-5)
    assert torch.allclose(losses["total"], expected_pin + expected_legacy)


def _in_batch_loss(data: DatasetEmbeddings, **log_q: torch.Tensor) -> torch.Tensor:
    """The pin task's [positive | in-batch positives] cross-entropy, assembled by hand."""
    pin = data.towers["pin"]
    return sampled_softmax_loss(
        data.query,
        pin.positive,
        pin.positive,
        logit_scale=1 / 0.07,
        mask=accidental_hits(data.positive_ids, data.positive_ids, data.query_ids, data.query_ids),
        **log_q,
    )


def test_no_random_negatives_leaves_the_in_batch_term_alone():
    """negatives_per_pair = 0: each task's loss is its [positive | in-batch] cross-entropy, nothing else."""
    gen = torch.Generator().manual_seed(2)
    data = _batch(gen, r=0)
    losses = MultiTaskLoss([TASKS[0]], sketch_width=1 << 16)({"pin": data})

    est = FrequencyEstimator(["pin"], width=1 << 16)
    expected = _in_batch_loss(
        data,
        log_q_positive=est.log_q_positive(
            "pin", data.query_ids, data.positive_ids, data.query_ids, data.positive_ids
        ),
        log_q_candidates=est.log_q_negative("pin", "in_batch", data.positive_ids),
    )
    assert torch.isfinite(losses["pin"])
    assert torch.allclose(losses["pin"], expected, atol=1e-5)


def test_without_the_correction_every_log_q_is_zero():
    """sketch_width=None (train.logq = false): the plain masked softmax, the same on every step, no sketches."""
    data = _batch(torch.Generator().manual_seed(3), r=0)
    loss_fn = MultiTaskLoss([TASKS[0]], sketch_width=None)
    expected = _in_batch_loss(data)
    assert torch.allclose(loss_fn({"pin": data})["pin"], expected, atol=1e-5)
    assert torch.allclose(loss_fn({"pin": data})["pin"], expected, atol=1e-5)  # no counts carried over
    assert not any("sketch" in key for key in loss_fn.state_dict())
    corrected = MultiTaskLoss([TASKS[0]], sketch_width=1 << 16)({"pin": data})["pin"]
    assert not torch.allclose(corrected, expected, atol=1e-3)


def test_nested_prefixes_are_weighted_sums():
    gen = torch.Generator().manual_seed(1)
    data = _batch(gen)
    data.towers.pop("legacy_pin")
    tasks = [TASKS[0]]
    nested = MultiTaskLoss(
        tasks, sketch_width=1 << 16, prefix_weights=((4, 0.05), (8, 0.05), (16, 1.0), (32, 1.0))
    )
    per_dim = {}
    for d in (4, 8, 16):
        trunc = DatasetEmbeddings(
            F.normalize(data.query[:, :d], dim=-1),
            data.query_ids,
            data.positive_ids,
            data.negative_ids,
            {"pin": TowerEmbeddings(data.towers["pin"].positive[:, :d], data.towers["pin"].negative[:, :d])},
        )
        per_dim[d] = MultiTaskLoss(tasks, sketch_width=1 << 16)({"pin": trunc})["total"]
    expected = 0.05 * per_dim[4] + 0.05 * per_dim[8] + per_dim[16]  # 32 > D is skipped
    assert torch.allclose(nested({"pin": data})["total"], expected, atol=1e-5)


def test_a_task_weight_scales_its_loss_in_the_total():
    data = _batch(torch.Generator().manual_seed(2))
    plain = MultiTaskLoss(TASKS, sketch_width=1 << 16)({"pin": data})
    weighted = [TASKS[0], Task("legacy_pin", "pin", "legacy", 0.25)]
    out = MultiTaskLoss(weighted, sketch_width=1 << 16)({"pin": data})
    assert torch.allclose(out["legacy_pin"], 0.25 * plain["legacy_pin"])
    assert torch.allclose(out["pin"], plain["pin"])
    assert torch.allclose(out["total"], plain["pin"] + 0.25 * plain["legacy_pin"])


def test_temperature_starts_at_007_and_scale_is_clamped_at_100():
    loss_fn = MultiTaskLoss(TASKS, sketch_width=64)
    assert math.isclose(loss_fn.logit_scale().item(), 1 / 0.07, rel_tol=1e-6)
    with torch.no_grad():
        loss_fn.log_scale.fill_(10.0)
    assert math.isclose(loss_fn.logit_scale().item(), 100.0, rel_tol=1e-6)


def test_gradients_reach_the_query_and_both_towers_and_the_temperature():
    gen = torch.Generator().manual_seed(2)
    data = _batch(gen)
    data.query.requires_grad_(True)
    data.towers["pin"].positive.requires_grad_(True)
    loss_fn = MultiTaskLoss(TASKS, sketch_width=1 << 10)
    loss_fn({"pin": data})["total"].backward()
    assert data.query.grad.abs().sum() > 0
    assert data.query.grad[:, 8:].abs().sum() > 0  # beyond the compatibility prefix: the learned task
    assert data.towers["pin"].positive.grad.abs().sum() > 0
    assert loss_fn.log_scale.grad is not None and torch.isfinite(loss_fn.log_scale.grad)
