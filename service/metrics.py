"""Prometheus metrics, one registry per app (so tests can run several apps in one process).

Latency buckets are geometric from 10 µs (TEI's habit): default buckets cannot resolve a 10 ms p99.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from service.thread_cpu import ThreadCpuCollector

LATENCY_BUCKETS = tuple(10e-6 * 2**i for i in range(21))  # 10 µs … ~10.5 s
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
_bundle_log = logging.getLogger("twinrank.bundle")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.request_seconds = Histogram("twinrank_request_duration_seconds", "request latency by endpoint",
                                         ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage_seconds = Histogram("twinrank_stage_duration_seconds", "/rank time per stage",
                                       ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("twinrank_requests", "requests by endpoint and status", ["endpoint", "status"],
                                registry=r)
        self.stage_cpu = Counter("twinrank_stage_cpu_seconds", "/rank CPU seconds per stage on the thread that "
                                 "ran it (query_encode: the batcher's CPU per batch)", ["stage"], registry=r)
        self.batch_size = Histogram("twinrank_query_batch_size", "queries per ONNX query-encoder call",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.cache = Counter("twinrank_query_cache", "query vector cache lookups", ["result"], registry=r)
        self.inflight = Gauge("twinrank_inflight_requests", "admitted /rank requests", registry=r)
        self.rejected = Counter("twinrank_overload_rejections", "requests refused for overload", registry=r)
        self.refusals = Counter("twinrank_admission_refusals", "/rank requests refused by admission, by reason: "
                                "inflight (count), queue_time (predicted wait over budget), deadline (over the "
                                "client's X-Request-Timeout-Ms), waited (budget ran out in the queue)", ["reason"],
                                registry=r)
        self._refusal_children: dict[str, Counter] = {}
        self.queue_wait_seconds = Histogram("twinrank_admission_wait_seconds", "time admitted /rank requests "
                                            "waited for a slot", buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("twinrank_admission_queue_depth", "/rank requests waiting for a slot", registry=r)
        self.bundle = Info("twinrank_bundle", "the bundle being served", registry=r)
        self.index_size = Gauge("twinrank_index_size", "ads in the served index", registry=r)
        self.reloads = Counter("twinrank_bundle_reloads", "bundle reload attempts by result", ["result"],
                               registry=r)
        self.bundle_events = Counter("twinrank_bundle_events", "bundle events (loaded, refused) by reason",
                                     ["event", "reason"], registry=r)
        self.last_bundle_event = Info("twinrank_last_bundle_event", "the latest bundle event", registry=r)
        self.loop_lag_seconds = Histogram("twinrank_event_loop_lag_seconds", "how late the event loop ran a timer "
                                          "(every 5 ms): what a request just read waits before its code runs",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.gc_pause_seconds = Histogram("twinrank_gc_pause_seconds", "Python garbage-collector pauses by "
                                          "generation (every thread needing the GIL waits)", ["generation"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        r.register(ThreadCpuCollector())

    def refused(self, reason: str) -> None:
        self.rejected.inc()
        child = self._refusal_children.get(reason)
        if child is None:  # `labels()` costs several µs a call; a refusal should cost next to nothing
            child = self._refusal_children[reason] = self.refusals.labels(reason)
        child.inc()

    def observe_admission(self, waited_s: float, queue_depth: int) -> None:
        self.queue_wait_seconds.observe(waited_s)
        self.queue_depth.set(queue_depth)

    def bundle_loaded(self, version: str, size: int, device: str) -> None:
        self.bundle.info({"version": version, "device": device})
        self.index_size.set(size)

    def record_bundle_event(self, event: str, version: str, reason: str, message: str | None = None) -> None:
        """A bundle `event` ("loaded", "refused") of `version`, counted by event and `reason` (a short fixed word:
        BundleError.reason, or how a swap loaded) and logged on `twinrank.bundle` with `message` when given."""
        self.bundle_events.labels(event, reason).inc()
        self.last_bundle_event.info({"event": event, "version": version, "reason": reason})
        level = logging.WARNING if event == "refused" else logging.INFO
        _bundle_log.log(level, message or f"bundle {event}: {version} ({reason})",
                        extra={"bundle_version": version, "event": event, "reason": reason})

    def observe_stages(self, timings_s: dict[str, float]) -> None:
        for stage, seconds in timings_s.items():
            self.stage_seconds.labels(stage).observe(seconds)

    def observe_batch(self, size: int, cpu_s: float) -> None:
        """One query-encoder call: its batch size, and its CPU (tokenise + query tower)."""
        self.batch_size.observe(size)
        self.stage_cpu.labels("query_encode").inc(cpu_s)

    def observe_stage_cpu(self, cpu_s: dict[str, float]) -> None:
        for stage, seconds in cpu_s.items():
            self.stage_cpu.labels(stage).inc(seconds)
