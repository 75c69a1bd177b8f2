"""POST /rank."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.responses import OrjsonResponse
from service.errors import invalid
from service.logs import note_bundle_version
from service.ranker.types import AdInput, RankOutcome, RankQuery
from service.schemas import ErrorBody, RankRequest, RankResponse
from service.settings import Settings

from ..deps import RankerDep, SettingsDep

router = APIRouter(tags=["rank"])

_ERRORS = {
    400: {"model": ErrorBody, "description": "body is not JSON"},
    413: {"model": ErrorBody, "description": "body over the size limit"},
    422: {"model": ErrorBody, "description": "a field is invalid; the message names it"},
    429: {"model": ErrorBody, "description": "overloaded: too many requests in flight, or a wait for a slot "
                                             "predicted over the queue budget (or X-Request-Timeout-Ms); retry "
                                             "after Retry-After"},
    503: {"model": ErrorBody, "description": "no bundle loaded, or shutting down"},
}


def to_query(body: RankRequest, settings: Settings) -> RankQuery:
    """Apply the limits from settings (tighter than the schema's hard caps) and the defaults."""
    if len(body.query) > settings.max_query_chars:
        raise invalid("query", f"longer than {settings.max_query_chars} characters ({len(body.query)})")
    if body.ads is not None and len(body.ads) > settings.max_ads:
        raise invalid("ads", f"at most {settings.max_ads} ads per request ({len(body.ads)} given)")
    if body.ads is not None and not body.ads:
        raise invalid("ads", "must not be empty (omit it to retrieve from the index)")
    top_k = body.top_k if body.top_k is not None else settings.default_top_k
    if top_k > settings.max_top_k:
        raise invalid("top_k", f"at most {settings.max_top_k} ({top_k} given)")
    ads = None if body.ads is None else [AdInput(a.ad_id, a.title, a.description, a.bid, a.p_click)
                                         for a in body.ads]
    w = body.defect_weight if body.defect_weight is not None else settings.defect_weight
    floor = body.min_relevance if body.min_relevance is not None else settings.min_relevance
    reserve = body.reserve if "reserve" in body.model_fields_set else settings.reserve  # explicit null: none
    return RankQuery(body.query, top_k, w, ads, floor, reserve)


def to_body(query: str, out: RankOutcome) -> dict:
    t = out.timings_s
    return {
        "bundle_version": out.bundle_version,
        "query": query,
        "results": [
            {"ad_id": r.ad_id, "rank": r.rank, "score": r.score, "relevance": r.relevance, "p_defect": r.p_defect,
             "p_click": r.p_click, "bid": r.bid, "cost_per_click": r.cost_per_click, "source": r.source}
            for r in out.results
        ],
        "candidates": out.candidates,
        "query_cached": out.query_cached,
        "timings_ms": {k: round(t.get(k, 0.0) * 1000, 4) for k in ("tokenize", "encode", "retrieve", "score", "total")},
    }


@router.post("/rank", response_model=RankResponse, responses=_ERRORS, response_class=OrjsonResponse,
             summary="Rank ads for a query (retrieved from the index, or the ads given)")
async def rank(body: RankRequest, ranker: RankerDep, settings: SettingsDep) -> OrjsonResponse:
    outcome = await ranker.rank(to_query(body, settings))
    ranker.metrics.observe_stages(outcome.timings_s)
    note_bundle_version(outcome.bundle_version)
    return OrjsonResponse(to_body(body.query, outcome))
