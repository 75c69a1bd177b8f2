"""The ranker's own request and result types (the public HTTP schemas live in service/schemas.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AdInput:
    """An ad sent with a request; fields left None are taken from the bundle's ad table."""

    ad_id: str
    title: str | None = None
    description: str | None = None
    bid: float | None = None
    p_click: float | None = None


@dataclass(frozen=True)
class RankQuery:
    query: str
    top_k: int
    defect_weight: float
    ads: list[AdInput] | None = None
    min_relevance: float = 0.0
    reserve: float | None = None


@dataclass
class RankedAd:
    ad_id: str
    rank: int
    score: float
    relevance: float
    p_defect: float
    p_click: float
    bid: float
    cost_per_click: float
    source: str  # "index" (stored vector) or "request" (encoded now)


@dataclass
class RankOutcome:
    bundle_version: str
    results: list[RankedAd]
    candidates: int
    timings_s: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)  # this thread's CPU by stage (encode is counted per batch)
    query_cached: bool = False
    batch_size: int = 1
