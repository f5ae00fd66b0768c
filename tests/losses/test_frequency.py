"""Count-min sketches: never under-count, exact without collisions, logQ formulas against exact counts."""

from __future__ import annotations

import math
from collections import Counter

import torch

from omnisage.losses.frequency import CountMinSketch, FrequencyEstimator, mix64
from omnisage.text.hashing import stable_hash_reference


def test_mix64_is_splitmix64():
    ids = [0, 1, 2, 12345, 2**40 + 7]
    expected = [stable_hash_reference(i, 0) for i in ids]  # seed 0: z = id + golden, then SplitMix64
    got = [v % (1 << 64) for v in mix64(torch.tensor(ids)).tolist()]
    assert got == expected


def test_sketch_never_undercounts_and_is_exact_when_wide():
    gen = torch.Generator().manual_seed(0)
    keys = torch.randint(0, 500, (5000,), generator=gen) ** 2  # skewed
    truth = Counter(keys.tolist())
    unique = torch.tensor(sorted(truth))
    small, wide = CountMinSketch(width=64, depth=2), CountMinSketch(width=1 << 20, depth=2)
    for sketch in (small, wide):
        for chunk in keys.split(700):
            sketch.update(chunk)
    exact = torch.tensor([truth[k] for k in unique.tolist()])
    assert torch.all(small(unique) >= exact)
    assert torch.equal(wide(unique), exact)


def test_log_q_negative_is_batch_size_times_frequency():
    est = FrequencyEstimator(["pin", "product"], width=1 << 18)
    first = torch.tensor([1, 1, 2, 3])
    est.log_q_negative("pin", "in_batch", first)
    second = torch.tensor([1, 4, 4, 4, 5])
    got = est.log_q_negative("pin", "in_batch", second)  # counted before lookup
    counts = Counter(first.tolist() + second.tolist())
    expected = [math.log(counts[i] / 9 * 5) for i in second.tolist()]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)
    # Another dataset has its own counts and total.
    other = est.log_q_negative("product", "in_batch", torch.tensor([1, 2]))
    assert torch.allclose(other, torch.tensor([math.log(0.5 * 2)] * 2), atol=1e-6)


def test_log_q_positive_is_conditional_frequency():
    est = FrequencyEstimator(["pin"], width=1 << 18)
    q = torch.tensor([7, 7, 7, 8])
    p = torch.tensor([1, 2, 1, 1])
    got = est.log_q_positive("pin", q, p, q, p)
    expected = torch.tensor([math.log(2 / 3), math.log(1 / 3), math.log(2 / 3), 0.0])
    assert torch.allclose(got, expected, atol=1e-6)


def test_state_survives_a_state_dict_round_trip():
    est = FrequencyEstimator(["pin"], width=1024)
    est.log_q_negative("pin", "random", torch.arange(10))
    clone = FrequencyEstimator(["pin"], width=1024)
    clone.load_state_dict(est.state_dict())
    ids = torch.tensor([3, 11])
    assert torch.equal(est.log_q_negative("pin", "random", ids), clone.log_q_negative("pin", "random", ids))
