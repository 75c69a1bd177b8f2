"""Garbage-collector pauses are measured while an app runs, by generation, and the hook goes with the app."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram

from service.api.app import create_app
from service.gc_pauses import GcPauseRecorder
from tests.service.conftest import make_settings


def _count(registry: CollectorRegistry, generation: str) -> float:
    return registry.get_sample_value("twinrank_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_recorder_times_each_collection_by_generation_until_removed() -> None:
    registry = CollectorRegistry()
    recorder = GcPauseRecorder(Histogram("twinrank_gc_pause_seconds", "", ["generation"], registry=registry))
    recorder.install()
    recorder.install()  # idempotent: one observation per collection
    try:
        gc.collect(2)
        gc.collect(0)
        assert _count(registry, "2") == 1 and _count(registry, "0") == 1
        total = registry.get_sample_value("twinrank_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and 0 < total < 5
    finally:
        recorder.uninstall()
    gc.collect(2)
    assert _count(registry, "2") == 1


def test_app_exports_gc_pauses_and_unhooks_at_shutdown(_pristine_root: Path) -> None:
    before = len(gc.callbacks)
    with TestClient(create_app(make_settings(_pristine_root))) as client:
        assert len(gc.callbacks) == before + 1
        gc.collect(2)
        text = client.get("/metrics").text
        assert 'twinrank_gc_pause_seconds_count{generation="2"}' in text
        line = next(x for x in text.splitlines() if x.startswith('twinrank_gc_pause_seconds_count{generation="2"}'))
        assert float(line.split()[-1]) >= 1
    assert len(gc.callbacks) == before
