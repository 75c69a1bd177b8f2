"""X-Request-ID taken or made and echoed; JSON logs from `twinrank serve` (one object per line) in which every
line of a request carries its id; bundle events in the logs and /metrics."""

from __future__ import annotations

import json
import logging
import sys
import urllib.request

import pytest

from load_tests.chaos.child_server import served
from service.logs import JsonFormatter, RequestIdFilter, RequestInfo, enter_request, leave_request
from tests.service.conftest import ADMIN_TOKEN
from tests.utils.bundles import build_tiny_bundle


def test_the_request_id_is_echoed_or_made(client) -> None:
    given = client.post("/rank", json={"query": "x"}, headers={"X-Request-ID": "req-42.a:b"})
    assert given.headers["x-request-id"] == "req-42.a:b"
    made = [client.get("/healthz").headers["x-request-id"] for _ in range(2)]
    assert all(len(m) == 24 and int(m, 16) >= 0 for m in made) and made[0] != made[1]
    for bad in ("has space", "x" * 129, "new\\nline"):
        r = client.get("/healthz", headers={"X-Request-ID": bad})
        assert r.headers["x-request-id"] != bad and len(r.headers["x-request-id"]) == 24
    refused = client.post("/rank", content=b"{", headers={"X-Request-ID": "bad-body"})
    assert refused.status_code == 422 and refused.headers["x-request-id"] == "bad-body"


def test_json_formatter_writes_one_object_with_the_request_fields() -> None:
    record = logging.LogRecord("twinrank.test", logging.ERROR, __file__, 1, "boom %d", (7,), None)
    token = enter_request(RequestInfo("rid-1", "/rank"))
    try:
        RequestIdFilter().filter(record)
    finally:
        leave_request(token)
    try:
        raise ValueError("inner")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line.rstrip("\n").split('"exc"')[0]
    doc = json.loads(line)
    assert doc["msg"] == "boom 7" and doc["level"] == "ERROR" and doc["logger"] == "twinrank.test"
    assert doc["request_id"] == "rid-1" and doc["route"] == "/rank" and "ValueError: inner" in doc["exc"]
    assert doc["ts"].endswith("Z") and "T" in doc["ts"]


def _post(url: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url + path, data=body, headers={"content-type": "application/json", **headers},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


@pytest.mark.timeout(180)
def test_serve_writes_json_logs_with_the_request_id_on_every_line(bundle_root, tiny_model, catalog_b,
                                                                  tmp_path) -> None:
    log_path = tmp_path / "serve.log"
    env = {"TWINRANK_LOG_FORMAT": "json", "TWINRANK_RELOAD_ENABLED": "true", "TWINRANK_ADMIN_TOKEN": ADMIN_TOKEN,
           "TWINRANK_ORT_INTRA_OP_THREADS": "1"}
    with served(bundle_root, log_path, env) as server:
        status, headers = _post(server.url, "/rank", b'{"query": "laufschuhe"}', {"X-Request-ID": "rank-1"})
        assert status == 200 and headers["x-request-id"] == "rank-1"
        new_dir = build_tiny_bundle(tiny_model, catalog_b, bundle_root)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-ID": "reload-1"}
        status, _ = _post(server.url, "/admin/reload", None, auth)
        assert status == 200
        bad = build_tiny_bundle(tiny_model, catalog_b, bundle_root)
        (bad / "ads.parquet").write_bytes(b"truncated")
        status, _ = _post(server.url, "/admin/reload", None, {**auth, "X-Request-ID": "reload-2"})
        assert status == 409
        with urllib.request.urlopen(server.url + "/metrics", timeout=30) as r:
            metrics = r.read().decode()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg", "request_id"} <= set(doc) for doc in lines)
    access = {doc["request_id"]: doc for doc in lines if doc["logger"] == "twinrank.access"}
    rank = access["rank-1"]
    assert rank["route"] == "/rank" and rank["status"] == 200 and rank["latency_ms"] > 0
    assert rank["bundle_version"].startswith("v0000")
    reload_lines = [doc for doc in lines if doc["request_id"] == "reload-1"]
    assert {doc["logger"] for doc in reload_lines} >= {"twinrank.access", "twinrank.bundle"}  # lines from the swap
    loaded = next(doc for doc in reload_lines if doc["logger"] == "twinrank.bundle")
    assert loaded["event"] == "loaded" and loaded["bundle_version"] == new_dir.name
    refused = next(doc for doc in lines if doc["request_id"] == "reload-2" and doc.get("event") == "refused")
    assert refused["level"] == "WARNING" and "ads.parquet" in refused["msg"]
    assert refused["bundle_version"] == bad.name
    assert f'twinrank_bundle_events_total{{event="loaded",reason="{loaded["reason"]}"}} 1.0' in metrics  # the reload
    assert 'twinrank_bundle_events_total{event="loaded",reason="startup"} 1.0' in metrics
    assert f'twinrank_bundle_events_total{{event="refused",reason="{refused["reason"]}"}} 1.0' in metrics
