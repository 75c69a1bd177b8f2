"""CPU seconds by thread role, for "where does the time go" under load (exported on /metrics).

The roles follow the service's own thread names: the event loop (uvicorn's main thread), the query batcher
(`batcher-<bundle>`), the rank workers (`rank_*`); everything else is `other`. CPU time of native threads that
Python does not know (none with the default one-thread ONNX Runtime and FAISS settings) is not counted, and a
thread that has exited (a retired bundle's batcher) takes its seconds with it.
"""

from __future__ import annotations

import threading
import time

from prometheus_client.core import CounterMetricFamily

ROLES = ("event_loop", "query_batcher", "rank_workers", "other")
BATCHER_THREAD_PREFIX = "batcher-"  # + the bundle version
WORKER_THREAD_PREFIX = "rank"  # ThreadPoolExecutor names its threads rank_0, rank_1, ...


def role_of(thread: threading.Thread) -> str:
    if thread is threading.main_thread():
        return "event_loop"
    if thread.name.startswith(BATCHER_THREAD_PREFIX):
        return "query_batcher"
    if thread.name.startswith(f"{WORKER_THREAD_PREFIX}_"):
        return "rank_workers"
    return "other"


def cpu_seconds_by_role() -> dict[str, float]:
    out = dict.fromkeys(ROLES, 0.0)
    for thread in threading.enumerate():
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, TypeError, AttributeError):  # exited meanwhile, not started, or no per-thread clocks here
            continue
        out[role_of(thread)] += seconds
    return out


class ThreadCpuCollector:
    """A Prometheus collector: `twinrank_thread_cpu_seconds_total{role=...}`."""

    def collect(self):
        family = CounterMetricFamily("twinrank_thread_cpu_seconds", "CPU seconds used by the service's threads, "
                                     "by role", labels=["role"])
        for role, seconds in cpu_seconds_by_role().items():
            family.add_metric([role], seconds)
        yield family
