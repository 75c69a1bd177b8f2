"""Public request and response models of the HTTP API, constrained at the edge.

Unknown fields are refused; bounds here are hard caps, and `service/api/routes/rank.py` applies the
(tighter) limits from settings. These models stay separate from the ranker's internal types.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.settings import MAX_ADS_CAP, MAX_QUERY_CHARS_CAP, MAX_TOP_K_CAP


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdIn(_Strict):
    """An ad to score. For an ad_id the bundle knows, title and description may be left out (the stored
    vector is used) and bid / p_click default to the bundle's values; other ads need title, bid, p_click."""

    ad_id: str = Field(min_length=1, max_length=256, examples=["a1"])
    title: str | None = Field(None, max_length=1000, examples=["Laufschuhe für Damen"])
    description: str | None = Field(None, max_length=4000, examples=["Jetzt im Sale: bis zu 50 % Rabatt"])
    bid: float | None = Field(None, ge=0, allow_inf_nan=False, description="cost-per-click bid, ≥ 0",
                              examples=[0.8])
    p_click: float | None = Field(None, ge=0, le=1, allow_inf_nan=False, description="click probability",
                                  examples=[0.031])


class RankRequest(_Strict):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS_CAP, examples=["laufschuhe damen"])
    ads: list[AdIn] | None = Field(None, max_length=MAX_ADS_CAP,
                                   description="score exactly these; omit to retrieve from the index")
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K_CAP, description="default from settings")
    defect_weight: float | None = Field(None, ge=0, allow_inf_nan=False,
                                        description="w in score = bid·p_click − w·p_defect; default from settings")
    min_relevance: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                        description="ads with a lower calibrated relevance are dropped; default from "
                                        "settings")
    reserve: float | None = Field(None, allow_inf_nan=False,
                                  description="reserve score: ads scoring below it are dropped; floor of GSP prices. "
                                  "Omitted: the default from settings; null: no reserve")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty or only whitespace")
        return v

    @model_validator(mode="after")
    def _unique_ads(self) -> RankRequest:
        if self.ads:
            seen: set[str] = set()
            for i, ad in enumerate(self.ads):
                if ad.ad_id in seen:
                    raise ValueError(f"ads[{i}].ad_id: duplicate ad_id {ad.ad_id!r}")
                seen.add(ad.ad_id)
        return self


class RankedAdOut(BaseModel):
    ad_id: str
    rank: int = Field(description="1 = best")
    score: float = Field(description="bid·p_click − w·p_defect")
    relevance: float = Field(description="calibrated probability that the ad is relevant")
    p_defect: float = Field(description="1 − relevance")
    p_click: float
    bid: float
    cost_per_click: float = Field(description="GSP price: smallest bid keeping this rank (floor: reserve)")
    source: Literal["index", "request"] = Field(description="stored vector, or encoded from the request")


class Timings(BaseModel):
    """Milliseconds per stage (tokenize and encode of the query cover its whole micro-batch)."""

    tokenize: float
    encode: float
    retrieve: float
    score: float
    total: float


class RankResponse(BaseModel):
    bundle_version: str
    query: str
    results: list[RankedAdOut]
    candidates: int = Field(description="ads scored before filtering and top_k")
    query_cached: bool
    timings_ms: Timings


class ErrorBody(BaseModel):
    error: str = Field(description="what is wrong; starts with the field's name when a field is at fault")
    error_type: str
    field: str | None = None


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    bundle_version: str
    model_id: str = Field(description="the student serving it (`name@digest`; empty for bundles older than it)")
    index_size: int


class ReloadResponse(BaseModel):
    changed: bool
    bundle_version: str
