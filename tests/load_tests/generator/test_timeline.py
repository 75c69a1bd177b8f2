"""The per-second timeline against a real local HTTP server: buckets add up to the run, events are marked and
bundle version changes are seen in the responses."""

from __future__ import annotations

import json
import threading
import time

import pytest

from load_tests.generator.engine import OpenLoopConfig, run
from load_tests.generator.http1 import Target
from load_tests.generator.mix import build_mix
from load_tests.generator.queries import builtin_queries
from load_tests.generator.timeline import Timeline, bundle_version_of, error_class, p99_after_vs_before

REQS = build_mix(builtin_queries(50), n_bodies=50)


def _cfg(rate: float, duration: float, **kw) -> OpenLoopConfig:
    return OpenLoopConfig(rate=rate, duration=duration, progress=False, **kw)


def _rank_body(version: str) -> bytes:
    return json.dumps({"bundle_version": version, "query": "q", "results": [],
                       "timings_ms": {"total": 0.1}}).encode()


def test_buckets_add_up_to_the_whole_run_by_error_kind(echo):
    statuses = {3: 429, 7: 503, 11: 500}  # i % 13 -> status
    _, url = echo(status=lambda i: statuses.get(i % 13, 200), delay=lambda i: 0.002)
    timeline = Timeline()
    out = run(Target.parse(url), REQS, _cfg(rate=130, duration=3.0), timeline=timeline)
    tl = out["timeline"]
    rows = tl["seconds"]
    assert len(rows) >= 3 and [r["t"] for r in rows] == list(range(len(rows)))
    assert sum(r["sent"] for r in rows) == out["sent"] == 390
    assert sum(r["ok"] for r in rows) == out["ok"]
    for cls, kind in (("429", "http_429"), ("503", "http_503"), ("5xx", "http_500")):
        assert sum(r["errors"][cls] for r in rows) == out["errors"][kind] == 30, cls
    assert sum(sum(r["errors"].values()) for r in rows) == sum(out["errors"].values())
    # every full second of a constant 130 req/s schedule holds 130 requests
    assert [r["sent"] for r in rows[:3]] == [130, 130, 130]
    assert all(r["p50_ms"] >= 2.0 and r["p99_ms"] >= r["p50_ms"] for r in rows if r["ok"])
    whole = timeline.window(0, len(rows))
    assert whole["ok"] == out["ok"] and whole["errors"] == 90


def test_a_marked_event_lands_at_its_time_and_a_timeout_is_counted(echo):
    _, url = echo(delay=lambda i: 1.0 if i == 150 else 0.001)
    timeline = Timeline()
    marker = threading.Timer(1.2, lambda: timeline.mark("swap started"))
    marker.start()
    out = run(Target.parse(url), REQS, _cfg(rate=100, duration=2.5, timeout=0.5), timeline=timeline)
    marker.join()
    events = out["timeline"]["events"]
    assert [(e["label"], e["source"]) for e in events] == [("swap started", "marked")]
    assert 1.0 <= events[0]["t"] <= 1.6, events
    rows = out["timeline"]["seconds"]
    assert sum(r["errors"]["timeout"] for r in rows) == out["errors"]["timeout"] >= 1
    assert rows[1]["errors"]["timeout"] >= 1  # request 150 was due in second 1


def test_version_change_is_seen_once_despite_stragglers_and_a_rollback_is_seen_again(echo):
    def version(i: int) -> str:
        if i < 100 or i in (103, 105):  # 103 and 105: old-version answers finishing after the swap
            return "v000001"
        return "v000002" if i < 250 else "v000001"  # rollback 1.5 s after the swap

    _, url = echo(body=lambda i: _rank_body(version(i)))
    timeline = Timeline(straggler_s=0.5)
    out = run(Target.parse(url), REQS, _cfg(rate=100, duration=3.5), timeline=timeline)
    seen = [e for e in out["timeline"]["events"] if e["source"] == "seen"]
    assert [e["label"] for e in seen] == ["bundle v000001 → v000002", "bundle v000002 → v000001"]
    assert 0.9 <= seen[0]["t"] <= 1.3 and 2.4 <= seen[1]["t"] <= 2.8, seen
    assert set(out["timeline"]["versions"]) == {"v000001", "v000002"}


def test_bundle_version_is_read_from_the_body_prefix():
    assert bundle_version_of(_rank_body("v000042")) == "v000042"
    assert bundle_version_of(b'{"results":[],"bundle_version":"v1"}') is None  # only where the service puts it
    assert bundle_version_of(b'{"bundle_version":"v1') is None
    assert bundle_version_of(b"") is None


def test_error_classes():
    assert [error_class(k) for k in ("timeout", "http_429", "http_503", "http_502", "connection_reset",
                                     "connection_refused", "protocol_error", "http_400")] == \
        ["timeout", "429", "503", "5xx", "connection", "connection", "connection", "other"]


def _fed_timeline(latencies_by_second: list[list[float]]) -> Timeline:
    """A timeline fed as the engine feeds it (requests due at t0 + second + a fraction)."""
    tl = Timeline()
    t0 = time.monotonic()
    tl.start(t0, len(latencies_by_second))
    for s, lats in enumerate(latencies_by_second):
        for j, lat in enumerate(lats):
            due = t0 + s + j / (len(lats) + 1)
            tl.sent(due)
            if lat < 0:
                tl.error(due, "timeout")
            else:
                tl.ok(due, lat, b"{}", due + lat)
    return tl


def test_p99_after_an_event_vs_the_steady_state_before():
    steady = [0.010] * 97 + [0.012] * 3
    slow = [0.010] * 90 + [0.050] * 10
    tl = _fed_timeline([steady] * 10 + [slow, slow[:-1] + [-1.0]] + [steady] * 5)
    cmp = p99_after_vs_before(tl, event_s=10.3, after_s=2, before_s=5)
    assert (cmp["before"]["from_s"], cmp["before"]["to_s"]) == (4, 9)
    assert (cmp["after"]["from_s"], cmp["after"]["to_s"]) == (10, 12)
    assert cmp["before"]["p99_ms"] == pytest.approx(12.0, abs=0.1)
    assert cmp["after"]["p99_ms"] == pytest.approx(50.0, abs=0.1)
    assert cmp["p99_ratio"] == pytest.approx(50 / 12, rel=0.01)
    assert cmp["failed_after"] == 1
    calm = p99_after_vs_before(tl, event_s=15.0, after_s=2, before_s=1)
    assert calm["failed_after"] == 0 and calm["p99_ratio"] == pytest.approx(1.0, abs=0.01)


def test_event_file_marks_only_events_within_the_run(tmp_path):
    tl = _fed_timeline([[0.01] * 10] * 3)
    now = time.time()
    f = tmp_path / "events"
    f.write_text(f"# swaps\n{now - 3600:.3f} long before\n{now + 1.5:.3f} index update\n\n", encoding="utf-8")
    assert tl.read_event_file(f) == 1
    assert [e.label for e in tl.events] == ["index update"]
    assert tl.read_event_file(tmp_path / "nobody-wrote-it") == 0
    f.write_text("yesterday swap\n", encoding="utf-8")
    with pytest.raises(ValueError, match="UNIX_SECONDS LABEL"):
        tl.read_event_file(f)
