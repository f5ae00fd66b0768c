"""Relevance metrics against values computed by hand: RMSE, grade accuracy on Home Depot's bins and on five
levels, nDCG@k of tiny queries (ties, cut-off, queries that do not count), and the query-bootstrap report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnisage.data.scale import FIVE_LEVELS, HOMEDEPOT
from omnisage.relevance.metrics import accuracy, ndcg_at, ndcg_per_query, relevance_report, rmse


def test_rmse_and_accuracy_by_hand():
    labels = np.array([1.0, 2.0, 3.0, 2.67])
    pred = np.array([1.83, 1.84, 2.49, 2.5])  # grades low, mid, mid, high (low < 1.84 <= mid < 2.5 <= high)
    assert rmse(pred, labels) == pytest.approx(math.sqrt((0.83**2 + 0.16**2 + 0.51**2 + 0.17**2) / 4))
    assert accuracy(pred, labels, HOMEDEPOT) == pytest.approx(3 / 4)  # 3.0 is high, 2.49 is mid
    assert accuracy(np.array([1.4, 1.6, 4.6]), np.array([1.0, 1.0, 5.0]), FIVE_LEVELS) == pytest.approx(2 / 3)


def test_ndcg_by_hand():
    # Query a: labels 3, 1, 2 ranked by the prediction as 1, 2, 3 (gains 0, 1, 2 above low = 1).
    labels = np.array([3.0, 1.0, 2.0, 2.0, 2.0, 1.0])
    pred = np.array([0.1, 0.9, 0.5, 1.0, 2.0, 3.0])
    groups = np.array(["a", "a", "a", "b", "b", "c"])
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 0 / math.log2(4)
    values, counted = ndcg_per_query(pred, labels, groups, HOMEDEPOT)
    np.testing.assert_allclose(values, [dcg / ideal, 0.0, 0.0])
    np.testing.assert_array_equal(counted, [True, False, False])  # b: all labels equal; c: one item
    assert ndcg_at(pred, labels, groups, HOMEDEPOT) == pytest.approx(dcg / ideal)
    # k = 1: only the top item counts: gain 0 against the ideal 2.
    assert ndcg_at(pred, labels, groups, HOMEDEPOT, k=1) == pytest.approx(0.0)
    assert ndcg_at(-pred, labels, groups, HOMEDEPOT, k=1) == pytest.approx(1.0)  # 3.0 on top


def test_ndcg_ties_count_against_the_prediction():
    labels, groups = np.array([1.0, 3.0, 2.0]), np.zeros(3)
    worst = (0 + 1 / math.log2(3) + 2 / math.log2(4)) / (2 + 1 / math.log2(3))
    assert ndcg_at(np.zeros(3), labels, groups, HOMEDEPOT) == pytest.approx(worst)
    assert ndcg_at(labels, labels, groups, HOMEDEPOT) == pytest.approx(1.0)
    assert math.isnan(ndcg_at(np.zeros(2), np.array([2.0, 2.0]), np.zeros(2), HOMEDEPOT))  # no query counts


def test_report_values_and_paired_differences():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 5)
    labels = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=len(groups))
    good = labels + rng.normal(0, 0.5, len(groups))
    bad = labels + rng.normal(0, 1.5, len(groups))
    report = relevance_report(
        {"good": good, "bad": bad, "same": good}, labels, groups, FIVE_LEVELS, n_boot=300
    )
    for name, pred in (("good", good), ("bad", bad)):
        assert report[name]["rmse"].value == pytest.approx(rmse(pred, labels))
        assert report[name]["accuracy"].value == pytest.approx(accuracy(pred, labels, FIVE_LEVELS))
        assert report[name]["ndcg@10"].value == pytest.approx(ndcg_at(pred, labels, groups, FIVE_LEVELS))
        for interval in report[name].values():
            assert interval.low <= interval.value <= interval.high
    diff = report["bad - good"]
    assert diff["rmse"].value == pytest.approx(rmse(bad, labels) - rmse(good, labels))
    assert diff["rmse"].low > 0 and diff["accuracy"].high < 0  # clearly worse on every resample's tail
    same = report["same - good"]
    assert all(i.value == i.low == i.high == 0 for i in same.values())  # paired: the same queries every time
