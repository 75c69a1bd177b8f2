"""CPU seconds by thread role: a busy thread's seconds land on its role, and /metrics exports them."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, generate_latest

from service.thread_cpu import ROLES, ThreadCpuCollector, cpu_seconds_by_role, role_of


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_roles_follow_the_service_thread_names() -> None:
    assert role_of(threading.main_thread()) == "event_loop"
    assert role_of(threading.Thread(name="batcher-v000001")) == "query_batcher"
    assert role_of(threading.Thread(name="rank_0")) == "rank_workers"
    assert role_of(threading.Thread(name="watcher")) == "other"


def test_a_busy_worker_thread_is_counted_under_rank_workers() -> None:
    started, release = threading.Event(), threading.Event()

    def work() -> None:
        _spin(0.2)
        started.set()
        release.wait(10)

    before = cpu_seconds_by_role()
    worker = threading.Thread(target=work, name="rank_test")
    worker.start()
    try:
        assert started.wait(10)
        after = cpu_seconds_by_role()
    finally:
        release.set()
        worker.join()
    assert set(after) == set(ROLES)
    assert after["rank_workers"] - before["rank_workers"] >= 0.15
    assert after["query_batcher"] - before["query_batcher"] < 0.1


def test_exported_as_a_prometheus_counter() -> None:
    registry = CollectorRegistry()
    registry.register(ThreadCpuCollector())
    text = generate_latest(registry).decode()
    for role in ROLES:
        assert f'twinrank_thread_cpu_seconds_total{{role="{role}"}}' in text
