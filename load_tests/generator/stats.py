"""Latency statistics: an HDR histogram of latencies (µs), errors by kind, per-stage server timings.

HDR keeps 3 significant digits from 1 µs to 60 s in constant memory, so a long run at a high rate
costs nothing to summarise and percentiles are exact to 0.1 %.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
LOWEST_US = 1
HIGHEST_US = 60_000_000
SIG_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIG_DIGITS)


def _pkey(p: float) -> str:
    return "p" + (f"{p:g}".replace(".", "_") if p != int(p) else str(int(p)))


def summarise_us(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in milliseconds (zeros for an empty histogram)."""
    n = hist.get_total_count()
    out: dict[str, float] = {"count": float(n)}
    for p in PERCENTILES:
        out[f"{_pkey(p)}_ms"] = hist.get_value_at_percentile(p) / 1000.0 if n else 0.0
    out["max_ms"] = hist.get_max_value() / 1000.0 if n else 0.0
    out["mean_ms"] = hist.get_mean_value() / 1000.0 if n else 0.0
    return out


@dataclass
class RunStats:
    """Everything one fixed-rate run measured. Latency counts successes only; errors are counted by kind."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    by_mode: dict[str, HdrHistogram] = field(default_factory=dict)
    stages: dict[str, HdrHistogram] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    error_latency: dict[str, HdrHistogram] = field(default_factory=dict)  # answered errors (http_429, ...)
    scheduled: int = 0
    sent: int = 0
    ok: int = 0
    max_send_lag_us: int = 0
    send_lag: HdrHistogram = field(default_factory=new_histogram)

    def record_ok(self, latency_s: float, mode: str) -> None:
        us = max(LOWEST_US, min(HIGHEST_US, int(latency_s * 1e6)))
        self.ok += 1
        self.latency.record_value(us)
        hist = self.by_mode.get(mode)
        if hist is None:
            hist = self.by_mode[mode] = new_histogram()
        hist.record_value(us)

    def record_error(self, kind: str, latency_s: float | None = None) -> None:
        """An error of `kind`; an answered one (an HTTP status) also has its latency: a refusal must be fast."""
        self.errors[kind] += 1
        if latency_s is not None:
            hist = self.error_latency.get(kind)
            if hist is None:
                hist = self.error_latency[kind] = new_histogram()
            hist.record_value(max(LOWEST_US, min(HIGHEST_US, int(latency_s * 1e6))))

    def record_send_lag(self, lag_s: float) -> None:
        """How late the generator itself sent a request (its own overhead; part of the latency)."""
        us = max(LOWEST_US, min(HIGHEST_US, int(lag_s * 1e6)))
        self.send_lag.record_value(us)
        self.max_send_lag_us = max(self.max_send_lag_us, us)

    def record_stages(self, timings_ms: dict[str, float]) -> None:
        for name, ms in timings_ms.items():
            if not isinstance(ms, int | float):
                continue
            hist = self.stages.get(name)
            if hist is None:
                hist = self.stages[name] = new_histogram()
            hist.record_value(max(LOWEST_US, min(HIGHEST_US, int(float(ms) * 1000))))

    def p99_ms(self) -> float:
        return self.latency.get_value_at_percentile(99.0) / 1000.0 if self.ok else float("inf")

    def summary(self, offered_rps: float, duration_s: float, wall_s: float) -> dict:
        """A JSON-ready dict: offered vs achieved rate, percentiles, errors, stage breakdown."""
        n_err = sum(self.errors.values())
        return {
            "offered_rps": offered_rps,
            "duration_s": duration_s,
            "wall_s": round(wall_s, 3),
            "scheduled": self.scheduled,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "error_latency_ms": {k: summarise_us(h) for k, h in sorted(self.error_latency.items())},
            "error_rate": (n_err / self.scheduled) if self.scheduled else 0.0,
            "achieved_rps": round(self.ok / duration_s, 2) if duration_s > 0 else 0.0,
            "sent_rps": round(self.sent / duration_s, 2) if duration_s > 0 else 0.0,
            "latency_ms": summarise_us(self.latency),
            "latency_by_mode_ms": {m: summarise_us(h) for m, h in sorted(self.by_mode.items())},
            "send_lag_ms": summarise_us(self.send_lag),
            "server_stages_ms": {s: summarise_us(h) for s, h in sorted(self.stages.items())},
            "histogram_ms": histogram_buckets(self.latency),
        }


def histogram_buckets(hist: HdrHistogram, n_buckets: int = 60) -> list[list[float]]:
    """Log-spaced [upper_ms, count] buckets for plotting a latency histogram."""
    if hist.get_total_count() == 0:
        return []
    lo = max(hist.get_min_value(), LOWEST_US)
    hi = max(hist.get_max_value(), lo + 1)
    import math

    edges = [lo * (hi / lo) ** (i / n_buckets) for i in range(n_buckets + 1)]
    counts = [0] * n_buckets
    for item in hist.get_recorded_iterator():
        v = item.value_iterated_to
        idx = 0 if v <= lo else min(n_buckets - 1, int(math.log(v / lo) / math.log(hi / lo) * n_buckets))
        counts[idx] += item.count_added_in_this_iter_step
    return [[round(edges[i + 1] / 1000.0, 4), c] for i, c in enumerate(counts)]
