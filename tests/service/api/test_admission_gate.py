"""The admission gate over HTTP, on both /rank paths: a busy server refuses at once with 429 and Retry-After,
before it parses the body; X-Request-Timeout-Ms lowers the budget; refusals are counted by reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.admission import client_deadline_s
from service.api.app import create_app
from tests.service.conftest import make_settings


@pytest.fixture(params=[True, False], ids=["fast_path", "fastapi_route"])
def busy_client(request, _pristine_root):
    """A client whose server has its one slot taken (through the gate's own queue, on the server's loop)."""
    settings = make_settings(_pristine_root, max_concurrency=1, queue_budget_ms=30, fast_rank_path=request.param)
    with TestClient(create_app(settings)) as c:
        queue = c.app.state.admission
        c.portal.call(queue.acquire)
        yield c
        c.portal.call(queue.release, 0.001)


def test_a_tiny_deadline_behind_a_busy_server_is_refused_at_once(busy_client) -> None:
    r = busy_client.post("/rank", json={"query": "laufschuhe"}, headers={"X-Request-Timeout-Ms": "1"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error_type"] == "overloaded" and "budget" in r.json()["error"]
    metrics = busy_client.get("/metrics").text
    assert 'twinrank_admission_refusals_total{reason="deadline"} 1.0' in metrics
    assert "twinrank_overload_rejections_total 1.0" in metrics


def test_the_body_is_not_parsed_before_the_refusal(busy_client) -> None:
    r = busy_client.post("/rank", content=b"{not json", headers={"content-type": "application/json",
                                                                 "X-Request-Timeout-Ms": "1"})
    assert r.status_code == 429  # not 400: the refusal came before the parser


def test_a_waiter_is_refused_when_its_budget_runs_out_and_served_once_a_slot_frees(busy_client) -> None:
    queue = busy_client.app.state.admission
    r = busy_client.post("/rank", json={"query": "laufschuhe"})  # predicted 5 ms < 30 ms: it waits, in vain
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert 'twinrank_admission_refusals_total{reason="waited"} 1.0' in busy_client.get("/metrics").text
    busy_client.portal.call(queue.release, 0.001)
    try:
        ok = busy_client.post("/rank", json={"query": "laufschuhe"}, headers={"X-Request-Timeout-Ms": "1"})
        assert ok.status_code == 200, ok.text  # a free slot admits at once, whatever the deadline
    finally:
        busy_client.portal.call(queue.acquire)
    assert "twinrank_admission_wait_seconds_count" in busy_client.get("/metrics").text


def test_other_routes_pass_the_gate(busy_client) -> None:
    assert busy_client.get("/healthz").status_code == 200
    assert busy_client.get("/readyz").status_code == 200


@pytest.mark.parametrize(("value", "seconds"), [(b"250", 0.25), (b"0.5", 0.0005), (b"0", None), (b"-3", None),
                                                (b"soon", None), (b"inf", None), (b"nan", None)])
def test_the_deadline_header_is_read_or_ignored(value: bytes, seconds: float | None) -> None:
    assert client_deadline_s([(b"x-request-timeout-ms", value)]) == seconds
    assert client_deadline_s([]) is None
