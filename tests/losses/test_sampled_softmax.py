"""Sampled softmax: a hand-computed loss, logQ as an exact shift, masked columns at zero probability."""

from __future__ import annotations

import math

import torch

from omnisage.losses.sampled_softmax import accidental_hits, corrected_logits, sampled_softmax_loss


def _unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_loss_equals_hand_computed_value():
    query = _unit([1, 0], [0, 1])
    positive = _unit([1, 0], [3, 4])  # cosines 1.0 and 0.8
    candidates = _unit([0, 1], [1, 1])  # row 0: 0, 0.7071; row 1: 1, 0.7071
    scale = 2.0
    log_q_pos = torch.tensor([math.log(0.5), math.log(0.25)])
    log_q_cand = torch.tensor([math.log(0.1), math.log(0.2)])
    loss = sampled_softmax_loss(
        query, positive, candidates, logit_scale=scale, log_q_positive=log_q_pos, log_q_candidates=log_q_cand
    )
    s = 1 / math.sqrt(2)
    rows = [
        [2 * 1.0 - math.log(0.5), 2 * 0.0 - math.log(0.1), 2 * s - math.log(0.2)],
        [2 * 0.8 - math.log(0.25), 2 * 1.0 - math.log(0.1), 2 * s - math.log(0.2)],
    ]
    expected = sum(-r[0] + math.log(sum(math.exp(x) for x in r)) for r in rows) / 2
    assert abs(loss.item() - expected) < 1e-5


def test_log_q_shifts_each_logit_by_exactly_minus_log_q():
    gen = torch.Generator().manual_seed(0)
    query, positive, cand = (torch.randn(n, 8, generator=gen) for n in (5, 5, 7))
    log_q_pos = torch.rand(5, generator=gen).log()
    log_q_cand = torch.rand(7, generator=gen).log()
    plain = corrected_logits(query, positive, cand, logit_scale=3.0)
    shifted = corrected_logits(
        query, positive, cand, logit_scale=3.0, log_q_positive=log_q_pos, log_q_candidates=log_q_cand
    )
    assert torch.equal(shifted[:, 1:], plain[:, 1:] - log_q_cand[None, :])
    assert torch.equal(shifted[:, 0], plain[:, 0] - log_q_pos)


def test_masked_columns_get_zero_probability_and_drop_out_of_the_loss():
    gen = torch.Generator().manual_seed(1)
    query, positive, cand = (torch.randn(n, 4, generator=gen) for n in (3, 3, 6))
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, 1] = mask[1, 4] = mask[2, 0] = mask[2, 5] = True
    probs = corrected_logits(query, positive, cand, logit_scale=5.0, mask=mask).softmax(dim=1)
    assert torch.all(probs[:, 1:][mask] == 0)
    assert torch.all(probs[:, 1:][~mask] > 0)
    per_row = []
    for i in range(3):
        keep = cand[~mask[i]]
        per_row.append(sampled_softmax_loss(query[i : i + 1], positive[i : i + 1], keep, logit_scale=5.0))
    loss = sampled_softmax_loss(query, positive, cand, logit_scale=5.0, mask=mask)
    assert torch.allclose(loss, torch.stack(per_row).mean(), atol=1e-6)


def test_masked_loss_has_finite_gradients():
    query = torch.randn(2, 4, requires_grad=True)
    positive, cand = torch.randn(2, 4), torch.randn(3, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)  # every candidate masked: only the positive is left
    loss = sampled_softmax_loss(query, positive, cand, logit_scale=10.0, mask=mask)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(query.grad).all()


def test_accidental_hits_match_the_docstring_picture():
    # Pairs (q, a), (q, b), (r, b), (s, f); in-batch candidates a b b f with their queries.
    query_ids = torch.tensor([0, 0, 1, 2])
    positive_ids = torch.tensor([10, 11, 11, 15])
    hits = accidental_hits(positive_ids, positive_ids, query_ids, query_ids)
    assert hits.int().tolist() == [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 0],
        [0, 0, 0, 1],
    ]
    # Random candidates: only the id mask.
    random_ids = torch.tensor([11, 99])
    assert accidental_hits(positive_ids, random_ids).int().tolist() == [[0, 0], [1, 0], [1, 0], [0, 0]]


def test_row_weight_and_normalizer():
    gen = torch.Generator().manual_seed(2)
    query, positive, cand = (torch.randn(n, 4, generator=gen) for n in (4, 4, 5))
    weight = torch.tensor([1.0, 0.0, 1.0, 1.0])
    kept = torch.tensor([0, 2, 3])
    dropped = sampled_softmax_loss(query, positive, cand, logit_scale=2.0, row_weight=weight)
    subset = sampled_softmax_loss(query[kept], positive[kept], cand, logit_scale=2.0)
    assert torch.allclose(dropped, subset, atol=1e-6)
    halved = sampled_softmax_loss(query, positive, cand, logit_scale=2.0, row_weight=weight, normalizer=6.0)
    assert torch.allclose(halved, subset / 2, atol=1e-6)
