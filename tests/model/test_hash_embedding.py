"""Hash embedding bag against a hand computation on a tiny table; empty bags; gradients reach every part."""

from __future__ import annotations

import torch

from omnisage.model.hash_embedding import HashEmbeddingBag, _distinct
from omnisage.text.hashing import hash_buckets


def _bag() -> HashEmbeddingBag:
    torch.manual_seed(0)
    bag = HashEmbeddingBag(num_tokens=6, num_buckets=5, dim=4, seeds=(11, 22))
    with torch.no_grad():
        bag.importance.copy_(torch.rand(6, 2) + 0.5)
        bag.norm.weight.copy_(torch.rand(4) + 0.5)
        bag.norm.bias.copy_(torch.rand(4))
    return bag


def test_equals_hand_computation():
    bag = _bag()
    ids = torch.tensor([0, 3, 3, 5, 1])
    offsets = torch.tensor([0, 3, 3])  # bags: [0, 3, 3], [], [5, 1]
    out = bag(ids, offsets)
    assert out.shape == (3, 4)

    buckets = hash_buckets(range(6), (11, 22), 5)  # (V, 2)
    table, w = bag.table.detach(), bag.importance.detach()

    def vector(t: int) -> torch.Tensor:  # w1·E[h1(t)] + w2·E[h2(t)]
        return w[t, 0] * table[buckets[t, 0]] + w[t, 1] * table[buckets[t, 1]]

    def norm(x: torch.Tensor) -> torch.Tensor:
        mean, var = x.mean(), x.var(unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-5) * bag.norm.weight + bag.norm.bias

    torch.testing.assert_close(out[0], norm(vector(0) + 2 * vector(3)))
    torch.testing.assert_close(out[1], torch.zeros(4))  # an empty bag adds nothing to the field sum
    torch.testing.assert_close(out[2], norm(vector(5) + vector(1)))


def test_distinct_ids_by_sorting_and_by_marking_agree():
    ids = torch.randint(0, 300, (400,), generator=torch.Generator().manual_seed(1))
    by_sort = _distinct(ids, 10_000)  # 400 ids against 10,000 tokens: sorted
    by_mark = _distinct(ids, 300)  # against 300 tokens: marked in a table
    for distinct, position in (by_sort, by_mark):
        assert torch.equal(distinct, torch.unique(ids))
        assert torch.equal(distinct[position], ids)


def test_a_query_sized_batch_equals_a_catalog_sized_one():
    bag = HashEmbeddingBag(num_tokens=5_000, num_buckets=64, dim=8)
    ids = torch.tensor([7, 4_000, 7, 12])
    alone = bag(ids, torch.tensor([0, 2]))  # 4 ids of 5,000 tokens: the sorting path
    filler = torch.randint(0, 5_000, (2_000,), generator=torch.Generator().manual_seed(2))
    together = bag(torch.cat([ids, filler]), torch.tensor([0, 2, 4]))  # the marking path
    torch.testing.assert_close(together[:2], alone)


def test_gradients_reach_table_and_importance():
    bag = _bag()
    bag(torch.tensor([0, 2, 4]), torch.tensor([0, 1])).pow(2).sum().backward()
    assert bag.importance.grad[[0, 2, 4]].abs().sum() > 0
    assert bag.importance.grad[[1, 3, 5]].abs().sum() == 0
    assert bag.table.grad.abs().sum() > 0


def test_buckets_follow_seeds_not_state():
    a = HashEmbeddingBag(100, 50, 4, seeds=(1, 2))
    b = HashEmbeddingBag(100, 50, 4, seeds=(1, 2))
    c = HashEmbeddingBag(100, 50, 4, seeds=(1, 3))
    assert torch.equal(a.buckets, b.buckets)
    assert not torch.equal(a.buckets, c.buckets)
    assert "buckets" not in a.state_dict()  # rebuilt from the seeds on load


def test_bf16_inference_reads_a_cast_table_that_follows_the_weights():
    bag = HashEmbeddingBag(num_tokens=50, num_buckets=16, dim=8)
    ids, offsets = torch.tensor([1, 2, 2, 40, 7]), torch.tensor([0, 2])
    exact = bag(ids, offsets)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        cast = bag(ids, offsets)
        assert bag._cast.dtype == torch.bfloat16  # cast once, kept for the next batch
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, exact, atol=0.05, rtol=0.05)
    with torch.no_grad():
        bag.table.mul_(-1.0)  # an optimizer step changes the weights in place
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        again = bag(ids, offsets)
    torch.testing.assert_close(again, bag(ids, offsets), atol=0.05, rtol=0.05)
    assert not torch.allclose(again, cast, atol=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (bag(ids, offsets) * torch.randn(2, 8)).sum().backward()  # training under autocast: the float32 table
    assert bag.table.grad is not None and bag.table.grad.abs().sum() > 0
