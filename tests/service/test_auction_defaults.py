"""A request that gives no relevance floor or reserve gets the settings' defaults; an explicit null reserve
means none."""

from __future__ import annotations

from service.api.routes.rank import to_query
from service.schemas import RankRequest
from service.settings import Settings


def test_a_request_without_floor_or_reserve_gets_the_settings_defaults() -> None:
    s = Settings(min_relevance=0.4, reserve=0.01, defect_weight=0.2)
    q = to_query(RankRequest(query="x"), s)
    assert (q.defect_weight, q.min_relevance, q.reserve) == (0.2, 0.4, 0.01)
    q = to_query(RankRequest.model_validate({"query": "x", "min_relevance": 0, "reserve": None}), s)
    assert (q.min_relevance, q.reserve) == (0, None)
    q = to_query(RankRequest.model_validate_json('{"query": "x", "reserve": -0.5}'), s)
    assert q.reserve == -0.5 and q.min_relevance == 0.4


def test_defaults_are_the_auction_replays_recommendation(monkeypatch) -> None:
    import json
    from pathlib import Path

    for key in ("TWINRANK_DEFECT_WEIGHT", "TWINRANK_MIN_RELEVANCE", "TWINRANK_RESERVE", "TWINRANK_SETTINGS_FILE"):
        monkeypatch.delenv(key, raising=False)
    replay = Path(__file__).resolve().parents[2] / "reports/qadsm-de/auction/replay.json"
    rec = json.loads(replay.read_text())["recommended"]
    s = Settings()
    assert (s.defect_weight, s.min_relevance, s.reserve) == (rec["defect_weight"], rec["min_relevance"], rec["reserve"])
    assert s.min_relevance > 0  # an irrelevant ad is not shown by default
