"""Auction over scored ads: score = bid·p_click − w·p_defect, filters, order, and GSP cost per click.

For a shown ad i, the generalised-second-price cost per click is the smallest bid that keeps its
score at or above the threshold t_i = max(score of the next eligible ad, reserve):
    bid·p_click_i − w·p_defect_i ≥ t_i   ⇔   bid ≥ (t_i + w·p_defect_i) / p_click_i,
floored at 0 and capped at the ad's own bid (its score already clears t_i, so the cap only absorbs
rounding). With no next ad and no reserve the threshold is −∞, so the cost is 0. An ad with
p_click = 0 is never clicked and pays 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AuctionResult:
    """Row positions into the input arrays, best first, with their score, rank and cost per click."""

    order: np.ndarray  # int64 positions into the inputs, length = number shown
    score: np.ndarray  # float64, score of every input ad (same order as inputs)
    cpc: np.ndarray  # float64, cost per click of each shown ad (aligned with `order`)


def scores(relevance: np.ndarray, bid: np.ndarray, p_click: np.ndarray, defect_weight: float) -> np.ndarray:
    """score = bid·p_click − w·(1 − relevance), float64."""
    return bid.astype(np.float64) * p_click - defect_weight * (1.0 - relevance.astype(np.float64))


def run_auction(
    relevance: np.ndarray,
    bid: np.ndarray,
    p_click: np.ndarray,
    *,
    defect_weight: float,
    top_k: int,
    min_relevance: float = 0.0,
    reserve: float | None = None,
    tiebreak: np.ndarray | None = None,
) -> AuctionResult:
    """Filter (relevance ≥ min_relevance, score ≥ reserve), sort by score, keep top_k, price by GSP.

    Ties in score go to the more relevant ad, then to the lower `tiebreak` value (e.g. row number),
    so the order is deterministic.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    bid = np.asarray(bid, dtype=np.float64)
    p_click = np.asarray(p_click, dtype=np.float64)
    s = scores(relevance, bid, p_click, defect_weight)
    eligible = relevance >= min_relevance
    if reserve is not None:
        eligible &= s >= reserve
    pos = np.flatnonzero(eligible)
    tb = np.arange(len(s)) if tiebreak is None else np.asarray(tiebreak)
    # lexsort sorts by the last key first: score desc, then relevance desc, then tiebreak asc.
    ranked = pos[np.lexsort((tb[pos], -relevance[pos], -s[pos]))]
    shown = ranked[:top_k]
    floor = -np.inf if reserve is None else reserve
    next_scores = np.full(len(shown), floor)
    if len(ranked) > 1:
        n_next = min(len(shown), len(ranked) - 1)
        next_scores[:n_next] = np.maximum(s[ranked[1 : n_next + 1]], floor)
    cpc = gsp_cost(next_scores, bid[shown], p_click[shown], 1.0 - relevance[shown], defect_weight)
    return AuctionResult(order=shown.astype(np.int64), score=s, cpc=cpc)


def gsp_cost(threshold: np.ndarray, bid: np.ndarray, p_click: np.ndarray, p_defect: np.ndarray,
             defect_weight: float) -> np.ndarray:
    """Smallest bid with bid·p_click − w·p_defect ≥ threshold, within [0, bid]; 0 where p_click = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = (threshold + defect_weight * p_defect) / p_click
    needed = np.where(p_click > 0, needed, 0.0)
    return np.clip(np.nan_to_num(needed, nan=0.0, neginf=0.0, posinf=0.0), 0.0, bid)
