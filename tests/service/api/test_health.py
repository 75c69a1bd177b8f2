"""Probes and Prometheus metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.service.conftest import make_settings


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["index_size"] == 40 and ready["bundle_version"].startswith("v0000")
    assert ready["model_id"].startswith("model@") and len(ready["model_id"]) == len("model@") + 12


def test_metrics_expose_latency_per_endpoint_and_stage_bundle_and_index_size(client) -> None:
    client.post("/rank", json={"query": "winterjacke herren"})
    client.post("/rank", json={"query": ""})
    text = client.get("/metrics").text
    assert 'twinrank_request_duration_seconds_bucket{endpoint="/rank",le="1e-05"}' in text
    for stage in ("tokenize", "encode", "retrieve", "score"):
        assert f'twinrank_stage_duration_seconds_count{{stage="{stage}"}}' in text
    assert 'twinrank_requests_total{endpoint="/rank",status="200"}' in text
    assert 'twinrank_requests_total{endpoint="/rank",status="422"}' in text
    assert "twinrank_index_size 40.0" in text
    assert 'twinrank_bundle_info{device="cpu",version="v0000' in text
    assert "twinrank_query_batch_size_count" in text


def test_readyz_is_503_while_shutting_down(bundle_root) -> None:
    with TestClient(create_app(make_settings(bundle_root))) as c:
        c.app.state.ranker.closing = True
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["error"] == "shutting down"
        assert c.post("/rank", json={"query": "x"}).status_code == 503


def test_overload_answers_429_fast(bundle_root) -> None:
    with TestClient(create_app(make_settings(bundle_root, max_inflight=1))) as c:
        ranker = c.app.state.ranker
        held = ranker._admit()  # one request in flight takes the only permit
        try:
            r = c.post("/rank", json={"query": "x"})
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert r.json()["error"].startswith("server busy: 1 requests in flight (max_inflight=1)")
            assert "twinrank_overload_rejections_total 1.0" in c.get("/metrics").text
        finally:
            held.batcher.withdraw()
            ranker._done(held)
        assert c.post("/rank", json={"query": "x"}).status_code == 200
