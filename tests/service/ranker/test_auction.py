"""Scoring and auction math: score formula, filters, order, and GSP prices checked from first principles."""

from __future__ import annotations

import numpy as np
import pytest

from service.ranker.auction import gsp_cost, run_auction, scores


def test_score_is_bid_times_pclick_minus_weighted_defect() -> None:
    s = scores(np.array([0.9, 0.2]), np.array([1.0, 2.0]), np.array([0.05, 0.1]), 0.5)
    np.testing.assert_allclose(s, [1.0 * 0.05 - 0.5 * 0.1, 2.0 * 0.1 - 0.5 * 0.8], atol=1e-12)


def test_sorted_by_score_and_top_k() -> None:
    rel = np.array([0.9, 0.5, 0.99, 0.7])
    bid = np.array([1.0, 3.0, 0.5, 1.0])
    pc = np.array([0.05, 0.05, 0.05, 0.05])
    res = run_auction(rel, bid, pc, defect_weight=0.1, top_k=3)
    expected = np.argsort(-scores(rel, bid, pc, 0.1))[:3]
    assert res.order.tolist() == expected.tolist()
    assert len(res.cpc) == 3


def test_min_relevance_and_reserve_filter() -> None:
    rel = np.array([0.9, 0.3, 0.95])
    bid = np.array([1.0, 5.0, 0.1])
    pc = np.array([0.05, 0.05, 0.05])
    res = run_auction(rel, bid, pc, defect_weight=0.1, top_k=10, min_relevance=0.5)
    assert 1 not in res.order.tolist()
    s = scores(rel, bid, pc, 0.1)
    reserve = float(np.sort(s)[1])  # keeps only the two best-scoring ads
    res = run_auction(rel, bid, pc, defect_weight=0.1, top_k=10, reserve=reserve)
    assert sorted(res.order.tolist()) == sorted(np.argsort(-s)[:2].tolist())
    assert (s[res.order] >= reserve).all()


@pytest.mark.parametrize("reserve", [None, -0.05, 0.0])
def test_gsp_price_is_the_smallest_bid_that_keeps_the_rank(reserve: float | None) -> None:
    rng = np.random.default_rng(0)
    n, w = 30, 0.3
    rel, bid, pc = rng.uniform(0.3, 1, n), rng.uniform(0.1, 3, n), rng.uniform(0.01, 0.2, n)
    res = run_auction(rel, bid, pc, defect_weight=w, top_k=10, reserve=reserve)
    s = res.score
    eligible = [i for i in np.argsort(-s, kind="stable") if reserve is None or s[i] >= reserve]
    for r, i in enumerate(res.order):
        price = res.cpc[r]
        assert 0 <= price <= bid[i] + 1e-12
        threshold = max(s[eligible[r + 1]] if r + 1 < len(eligible) else -np.inf,
                        -np.inf if reserve is None else reserve)
        # Paying `price` keeps the ad at or above the threshold ...
        assert price * pc[i] - w * (1 - rel[i]) >= threshold - 1e-9
        # ... and any lower bid falls below it (unless the price is already 0).
        if price > 1e-9:
            assert (price - 1e-6) * pc[i] - w * (1 - rel[i]) < threshold


def test_last_ad_without_reserve_pays_zero_and_with_reserve_pays_the_floor() -> None:
    rel, bid, pc = np.array([0.9]), np.array([2.0]), np.array([0.1])
    assert run_auction(rel, bid, pc, defect_weight=0.5, top_k=1).cpc.tolist() == [0.0]
    res = run_auction(rel, bid, pc, defect_weight=0.5, top_k=1, reserve=0.1)
    np.testing.assert_allclose(res.cpc, [(0.1 + 0.5 * 0.1) / 0.1])


def test_next_ad_beyond_top_k_still_sets_the_last_price() -> None:
    rel, bid, pc = np.array([0.9, 0.9]), np.array([2.0, 1.0]), np.array([0.1, 0.1])
    res = run_auction(rel, bid, pc, defect_weight=0.0, top_k=1)
    np.testing.assert_allclose(res.cpc, [1.0])  # second price: the runner-up's bid at equal p_click


def test_zero_click_probability_pays_nothing() -> None:
    np.testing.assert_array_equal(gsp_cost(np.array([0.5]), np.array([1.0]), np.array([0.0]), np.array([0.1]), 1.0),
                                  [0.0])


def test_ties_are_deterministic() -> None:
    rel, bid, pc = np.full(4, 0.8), np.ones(4), np.full(4, 0.05)
    res = run_auction(rel, bid, pc, defect_weight=0.1, top_k=4)
    assert res.order.tolist() == [0, 1, 2, 3]
