"""Auction replay: labelled queries run through the service's own auction (`service.ranker.auction`: the same
scoring, relevance floor, reserve and GSP pricing `/rank` calls, not a copy) for a grid of defect weights w,
floors and reserves, and what each setting does to revenue, the ads shown and their quality.

Per setting and model, over all queries (a query with no ad shown counts as revenue 0):
- revenue per query: Σ over shown slots of GSP cost per click × pClick (expected payment per page view);
- ads shown per query, and the share of queries with no ad;
- Bad share: shown ads labelled Bad / all shown ads (the "defect" rate);
- nDCG of the shown list by label (binary gains, cut at the slots), over queries with a Good candidate (an
  empty list scores 0 there);
- clicks per query: Σ pClick over the shown slots.
pClick does not depend on the slot (the service has no position model either).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from offline.evaluation.replay_inputs import ReplayData

# The one auction: imported as a module so the replay always calls what the service calls at that moment.
from service.ranker import auction as service_auction

METRICS = ("revenue_per_query", "ads_per_query", "bad_share", "ndcg", "no_ad_share", "clicks_per_query")


@dataclass(frozen=True)
class Setting:
    """One auction configuration: score = bid·pClick − w·pDefect, relevance ≥ floor, score ≥ reserve."""

    defect_weight: float
    min_relevance: float = 0.0
    reserve: float | None = None

    def label(self) -> str:
        r = "none" if self.reserve is None else f"{self.reserve:g}"
        return f"w={self.defect_weight:g} floor={self.min_relevance:g} reserve={r}"


def query_auction(data: ReplayData, model: str, q: int, setting: Setting, top_k: int,
                  ) -> service_auction.AuctionResult:
    """The service's auction over query `q`'s candidates, as `/rank` runs it with the ads given."""
    idx = data.queries[q]
    return service_auction.run_auction(data.relevance[model][idx], data.bid[idx], data.p_click[idx],
                                       defect_weight=setting.defect_weight, top_k=top_k,
                                       min_relevance=setting.min_relevance, reserve=setting.reserve)


def ideal_dcg(data: ReplayData, top_k: int) -> np.ndarray:
    """Each query's best possible DCG over `top_k` slots (0 where it has no Good candidate)."""
    disc = 1.0 / np.log2(np.arange(2, top_k + 2))
    return np.array([(g * disc[: len(g)]).sum() for g in (np.sort(data.label[idx])[::-1][:top_k]
                                                         for idx in data.queries)])


def replay_setting(data: ReplayData, model: str, setting: Setting, top_k: int,
                   ideal: np.ndarray | None = None) -> dict[str, float]:
    """The metrics (module docstring) of one setting for one model (`ideal`: `ideal_dcg`, if already known)."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1 (got {top_k})")
    disc = 1.0 / np.log2(np.arange(2, top_k + 2))
    ideal = ideal_dcg(data, top_k) if ideal is None else ideal
    revenue = clicks = 0.0
    shown = bad = empty = 0
    ndcg_sum, ndcg_n = 0.0, 0
    for q, idx in enumerate(data.queries):
        result = query_auction(data, model, q, setting, top_k)
        rows = idx[result.order]
        pc = data.p_click[rows]
        revenue += float((result.cpc * pc).sum())
        clicks += float(pc.sum())
        shown += len(rows)
        y = data.label[rows]
        bad += int((y == 0).sum())
        empty += len(rows) == 0
        if ideal[q] > 0:
            ndcg_sum += float((y * disc[: len(y)]).sum()) / ideal[q]
            ndcg_n += 1
    n = len(data.queries)
    return {"revenue_per_query": revenue / n, "ads_per_query": shown / n,
            "bad_share": bad / shown if shown else 0.0, "ndcg": ndcg_sum / ndcg_n if ndcg_n else float("nan"),
            "no_ad_share": empty / n, "clicks_per_query": clicks / n}


def replay(data: ReplayData, models: list[str], settings: list[Setting], top_k: int) -> list[dict]:
    """One row per (model, setting): the setting's fields and its metrics."""
    missing = [m for m in models if m not in data.relevance]
    if missing:
        raise ValueError(f"no relevance for model(s) {', '.join(missing)} (have {', '.join(data.relevance)})")
    ideal = ideal_dcg(data, top_k)
    return [{"model": m, **asdict(s), **replay_setting(data, m, s, top_k, ideal)} for m in models for s in settings]


def grid(weights: list[float], floors: list[float], reserves: list[float | None]) -> list[Setting]:
    """Every combination, in (w, floor, reserve) order."""
    return [Setting(w, f, r) for w, f, r in itertools.product(weights, floors, reserves)]


def pick(rows: list[dict], max_bad_share: float | None, min_relevance_at_least: float = 0.0) -> dict | None:
    """The most revenue among rows with Bad share ≤ `max_bad_share` (None: no cap) and a floor of at least
    `min_relevance_at_least`; ties (within 0.5 % of that revenue) go to the higher nDCG, then the lower Bad
    share. None when no row qualifies."""
    ok = [r for r in rows if (max_bad_share is None or r["bad_share"] <= max_bad_share)
          and r["min_relevance"] >= min_relevance_at_least]
    if not ok:
        return None
    best = max(r["revenue_per_query"] for r in ok)
    near = [r for r in ok if r["revenue_per_query"] >= best * 0.995]
    return max(near, key=lambda r: (r["ndcg"], -r["bad_share"]))


def parse_reserves(text: str) -> list[float | None]:
    """`none,0,0.01` → [None, 0.0, 0.01]."""
    out: list[float | None] = []
    for part in _parts(text, "--reserves"):
        out.append(None if part.lower() == "none" else _number(part, "--reserves"))
    return out


def parse_numbers(text: str, option: str, lo: float = -np.inf, hi: float = np.inf) -> list[float]:
    """`0,0.1,0.5` → floats, each within [lo, hi]; the error names the option."""
    values = [_number(p, option) for p in _parts(text, option)]
    for v in values:
        if not lo <= v <= hi:
            raise ValueError(f"{option}: {v:g} is outside [{lo:g}, {hi:g}]")
    return values


def _parts(text: str, option: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{option}: give at least one value (comma-separated)")
    return parts


def _number(part: str, option: str) -> float:
    try:
        v = float(part)
    except ValueError:
        raise ValueError(f"{option}: {part!r} is not a number") from None
    if not np.isfinite(v):
        raise ValueError(f"{option}: {part!r} is not finite")
    return v
