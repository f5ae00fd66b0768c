"""Optimizers: LAMB's update against a hand computation; the warm-up + cosine schedule's shape."""

from __future__ import annotations

import math

import torch

from omnisage.train.optim import Lamb, parameter_groups, warmup_cosine, warmup_linear


def test_lamb_first_step_is_the_trust_ratio_times_the_adam_direction():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    w.grad = torch.tensor([0.5, -1.0])
    Lamb([w], lr=0.1, weight_decay=0.0, eps=0.0).step()
    # Step 1: m_hat = g, v_hat = g^2, so the Adam direction is sign(g) = (1, -1), norm sqrt(2); ||w|| = 5.
    trust = 5.0 / math.sqrt(2)
    assert torch.allclose(w.detach(), torch.tensor([3.0 - 0.1 * trust, 4.0 + 0.1 * trust]), atol=1e-6)


def test_lamb_weight_decay_enters_the_update():
    w = torch.nn.Parameter(torch.tensor([1.0, 0.0]))
    w.grad = torch.zeros(2)
    Lamb([w], lr=0.5, weight_decay=0.1, eps=1e-6).step()
    # Zero gradient: the update is 0.1 * w, trust = ||w|| / ||0.1 w|| = 10, so w moves by lr * ||w||.
    assert torch.allclose(w.detach(), torch.tensor([0.5, 0.0]), atol=1e-5)


def test_warmup_then_cosine():
    f = warmup_cosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0
    assert math.isclose(f(9), 0.1 + 0.9 * 0.5, rel_tol=1e-9)  # halfway through the cosine
    assert math.isclose(f(14), 0.1) and math.isclose(f(100), 0.1)


def test_warmup_then_linear_decay():
    f = warmup_linear(warmup_steps=2, total_steps=10)
    assert [f(s) for s in range(11)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    assert f(12) == 0.0


def test_vectors_and_scalars_never_decay():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    groups = parameter_groups({"m": model}, {"m": 1e-3}, weight_decay=0.1)
    decayed = [p for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    assert len(decayed) == 1 and decayed[0].shape == (2, 3)
