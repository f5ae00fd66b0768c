"""Batches: mix allocation, a plan that is a pure function of (step, rank), worker shares, leave-one-out."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from train_toys import setup

from omnisage.config import TrainConfig
from omnisage.train.batches import allocate
from omnisage.train.objective import tasks_for


def test_allocate_follows_the_mix_and_sums_to_the_batch():
    mix = {"pin": 8, "product_onsite": 4, "query": 2, "product_offsite": 2}
    assert allocate(16, mix) == {"pin": 8, "product_onsite": 4, "query": 2, "product_offsite": 2}
    counts = allocate(10, mix)
    assert sum(counts.values()) == 10 and min(counts.values()) >= 1
    assert allocate(5, {"pin": 1, "query": 0}) == {"pin": 5}


def test_each_task_weighs_by_its_datasets_share_of_the_step():
    tasks = tasks_for(allocate(256, {"product_onsite": 4, "query": 1}), ("entity", "legacy", "query"))
    weights = {t.name: t.weight for t in tasks}
    assert weights == {"product_onsite": 205 / 256, "legacy_product_onsite": 205 / 256, "query": 51 / 256}
    assert [t.weight for t in tasks_for({"pin": 64}, ("entity",))] == [1.0]  # one task: the plain loss


def test_two_worker_shares_are_the_single_process_batch():
    train = TrainConfig(batch_size=16, sketch_width=1 << 10)
    _, single = setup(TrainConfig(batch_size=32, sketch_width=1 << 10))
    _, double = setup(train, world_size=2)
    for step in (0, 5):
        for name in single.plan.pairs:
            whole = single.plan.pair_rows(name, step, 0)
            shares = np.concatenate([double.plan.pair_rows(name, step, r) for r in (0, 1)])
            assert np.array_equal(whole, shares)
            negs = np.concatenate([double.plan.negatives(name, step, r) for r in (0, 1)])
            assert np.array_equal(single.plan.negatives(name, step, 0), negs)


def test_each_epoch_visits_every_pair_once():
    _, builder = setup(TrainConfig(batch_size=16, sketch_width=1 << 10))
    plan = builder.plan
    n, b = len(plan.pairs["pin"].query_ids), plan.per_worker["pin"]
    seen = np.concatenate([plan.pair_rows("pin", s, 0) for s in range(n // b)])
    assert sorted(seen.tolist()) == list(range(n))
    assert np.array_equal(plan.pair_rows("pin", 3, 0), plan.pair_rows("pin", 3, 0))  # stateless


def test_leave_one_out_removes_the_pairs_own_query_from_its_positive():
    train = TrainConfig(batch_size=16, sketch_width=1 << 10, towers=("entity",))
    _, with_loo = setup(train)
    _, without = setup(
        TrainConfig(batch_size=16, sketch_width=1 << 10, towers=("entity",), leave_one_out=False)
    )
    a, b = with_loo(0), without(0)
    assert torch.equal(a.entities.continuous, b.entities.continuous)
    # Every toy item lists its topic's first word among its engaged queries, and some pairs use that query.
    assert a.entities.token_ids.numel() < b.entities.token_ids.numel()
    # Negatives keep their engaged queries: only positive rows shrink.
    pin = a.datasets["pin"]
    negatives_a = a.entities.offsets.numel()
    assert negatives_a == b.entities.offsets.numel()
    assert pin.negative_rows.stop <= len(a.entities)


def test_a_repeated_pair_keeps_its_query():
    # Point in time: a pair engaged more than once had its query among the item's engaged queries before
    # its latest engagement, so only pairs engaged once leave it out.
    train = TrainConfig(batch_size=16, sketch_width=1 << 10, towers=("entity",))
    _, builder = setup(train)
    _, without = setup(dataclasses.replace(train, leave_one_out=False))
    for pairs in builder.plan.pairs.values():
        pairs.repeats = np.ones_like(pairs.query_ids, dtype=bool)
    assert torch.equal(builder(0).entities.token_ids, without(0).entities.token_ids)
    for pairs in builder.plan.pairs.values():
        pairs.repeats[:] = False
    assert builder(0).entities.token_ids.numel() < without(0).entities.token_ids.numel()


def test_leave_one_out_only_touches_the_excluding_row():
    # The same entity twice in one batch (a positive of one pair, a random negative of another): only
    # the positive's row loses the pair's query; the duplicate keeps every engaged query.
    _, builder = setup(TrainConfig(batch_size=16, sketch_width=1 << 10, towers=("entity",)))
    features, catalog = builder.features, builder.catalog
    row = int(catalog.rows["pin"][0])
    own = catalog.entities.column("engaged_queries")[row].as_py()[0]
    both = features.batch([row, row], [own, None])
    alone = features.batch([row], None)
    per_row = torch.diff(both.offsets, append=torch.tensor([both.token_ids.numel()]))
    field = list(features.fields).index("engaged_queries")
    lengths = per_row.view(both.num_fields, 2)[field]  # (2,) tokens of the field in each row
    full = torch.diff(alone.offsets, append=torch.tensor([alone.token_ids.numel()])).view(-1)[field]
    assert lengths[0] < full and lengths[1] == full
