"""Latency over time: per-second buckets of one open-loop run, and the events that happened during it.

A request belongs to the second it was *scheduled* in (its latency is measured from that time too), so the
buckets add up exactly to the run's totals and a stall shows in the seconds whose requests it delayed. Each
bucket keeps every OK latency (4 bytes each: at 200 req/s a 30-minute soak holds 1.4 MB), so percentiles of
any window of seconds are exact, not merged from per-second percentiles.

Events are marked by whoever drives the run (`mark(label)`, or an event file read after the run) or seen in
the responses: a change of the `bundle_version` a /rank response starts with.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ERROR_KINDS = ("timeout", "429", "503", "5xx", "connection", "other")
_VERSION_KEY = b'{"bundle_version":'


def error_class(kind: str) -> str:
    """The timeline's coarse class of an error kind from `engine.classify_exception` or `http_<status>`."""
    if kind == "timeout":
        return "timeout"
    if kind in ("http_429", "http_503"):
        return kind[5:]
    if kind.startswith("http_5"):
        return "5xx"
    if kind.startswith("connection") or kind == "protocol_error":
        return "connection"
    return "other"


def bundle_version_of(body: bytes) -> str | None:
    """The `bundle_version` a /rank response body starts with (the service writes it first), without parsing
    the JSON: a prefix test and one search, well under a microsecond."""
    if not body.startswith(_VERSION_KEY):
        return None
    start = body.find(b'"', len(_VERSION_KEY), len(_VERSION_KEY) + 2) + 1  # `:"` from orjson, `: "` from json
    end = body.find(b'"', start) if start > 0 else -1
    return body[start:end].decode("ascii", "replace") if end > 0 else None


@dataclass
class Bucket:
    sent: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies_s: array = field(default_factory=lambda: array("f"))


@dataclass
class Event:
    at: float  # time.monotonic()
    label: str
    source: str  # "marked" (told) | "seen" (in the responses)


def percentiles_ms(latencies_s: np.ndarray, qs: tuple[float, ...] = (50, 90, 99)) -> dict[str, float]:
    if latencies_s.size == 0:
        return {f"p{q:g}_ms": 0.0 for q in qs} | {"max_ms": 0.0}
    vals = np.percentile(latencies_s, qs) * 1000
    return {f"p{q:g}_ms": round(float(v), 3) for q, v in zip(qs, vals, strict=True)} | {
        "max_ms": round(float(latencies_s.max()) * 1000, 3)}


class Timeline:
    """Per-second buckets of one run. The engine calls `start`, then `sent` / `ok` / `error` per request (a few
    hundred ns each); anyone may call `mark` from any thread, before or during the run."""

    def __init__(self, straggler_s: float = 2.0) -> None:
        self.t0: float | None = None  # the run's start (time.monotonic(), as the event loop's clock)
        self.t0_unix: float | None = None
        self.buckets: list[Bucket] = []
        self.events: list[Event] = []
        # A response of the old version can finish after the first one of the new (it was admitted before the
        # swap); one seen within this many seconds of its version being replaced is a straggler, not a swap back.
        self.straggler_s = straggler_s
        self.version: str | None = None
        self._previous: tuple[str, float] | None = None  # (version replaced, when)
        self.versions: dict[str, list[float]] = {}  # version -> [first seen, last seen] (monotonic)

    # ---- the engine's side (hot path) --------------------------------------------------------------
    def start(self, t0: float, duration_s: float) -> None:
        self.t0 = t0
        self.t0_unix = time.time() - (time.monotonic() - t0)
        self.buckets = [Bucket() for _ in range(int(duration_s) + 1)]

    def _bucket(self, due: float) -> Bucket:
        i = int(due - self.t0)  # type: ignore[operator]
        if i >= len(self.buckets):
            self.buckets.extend(Bucket() for _ in range(i + 1 - len(self.buckets)))
        return self.buckets[i]

    def sent(self, due: float) -> None:
        self._bucket(due).sent += 1

    def error(self, due: float, kind: str) -> None:
        self._bucket(due).errors[kind] += 1

    def ok(self, due: float, latency_s: float, body: bytes, now: float) -> None:
        b = self._bucket(due)
        b.ok += 1
        b.latencies_s.append(latency_s)
        version = bundle_version_of(body)
        if version is None:
            return
        if version != self.version:
            self._version_seen(version, now)
        else:
            self.versions[version][1] = now

    def _version_seen(self, version: str, now: float) -> None:
        prev = self._previous
        if prev is not None and prev[0] == version and now - prev[1] < self.straggler_s:
            self.versions[version][1] = now
            return
        if self.version is not None:
            self.events.append(Event(now, f"bundle {self.version} → {version}", "seen"))
            self._previous = (self.version, now)
        self.version = version
        span = self.versions.setdefault(version, [now, now])
        span[1] = now

    # ---- the driver's side ---------------------------------------------------------------------------
    def mark(self, label: str, at: float | None = None) -> float:
        """Mark an event now (or at `at`, a time.monotonic() value); returns its time."""
        at = time.monotonic() if at is None else at
        self.events.append(Event(at, label, "marked"))
        return at

    def mark_unix(self, unix_s: float, label: str) -> None:
        """Mark an event at a wall-clock time (seconds since the epoch), e.g. one read from an event file."""
        self.events.append(Event(time.monotonic() - (time.time() - unix_s), label, "marked"))

    def read_event_file(self, path: str | Path) -> int:
        """Mark the events of `path`: lines `UNIX_SECONDS LABEL` (e.g. `echo "$(date +%s.%N) swap" >> f`);
        blank lines and lines starting with # are skipped, and so are events outside this run (a sweep's runs
        share one file). A file nobody wrote marks nothing. Returns how many were marked."""
        path = Path(path)
        if not path.exists():
            return 0
        n = 0
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            stamp, _, label = line.partition(" ")
            try:
                unix_s = float(stamp)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected 'UNIX_SECONDS LABEL', got {line[:60]!r}") from None
            if self.t0_unix is not None and not (
                    self.t0_unix - 1 <= unix_s <= self.t0_unix + len(self.buckets) + self.straggler_s):
                continue
            self.mark_unix(unix_s, label.strip() or "event")
            n += 1
        return n

    # ---- reading it --------------------------------------------------------------------------------
    def rel(self, at: float) -> float:
        """A time.monotonic() value as seconds since the run's start."""
        return at - (self.t0 if self.t0 is not None else at)

    def window(self, start_s: float, end_s: float) -> dict:
        """Totals and exact percentiles of the requests scheduled in whole seconds [start_s, end_s) of the run."""
        lo, hi = max(0, int(np.floor(start_s))), min(len(self.buckets), int(np.ceil(end_s)))
        picked = self.buckets[lo:hi]
        errors: Counter = Counter()
        for b in picked:
            errors.update(b.errors)
        lat = np.concatenate([np.frombuffer(b.latencies_s, dtype=np.float32) for b in picked]) if picked \
            else np.empty(0, np.float32)
        return {"from_s": lo, "to_s": max(lo, hi), "sent": sum(b.sent for b in picked),
                "ok": sum(b.ok for b in picked), "errors": sum(errors.values()), "errors_by_kind": dict(errors),
                **percentiles_ms(lat.astype(np.float64))}

    def to_dict(self) -> dict:
        """The JSON form: one row per second (requests scheduled in it), the events and the versions seen."""
        rows = []
        used = len(self.buckets)
        while used and not (self.buckets[used - 1].sent or self.buckets[used - 1].errors):
            used -= 1  # seconds never reached: the run was stopped early
        for t, b in enumerate(self.buckets[:used]):
            classes = dict.fromkeys(ERROR_KINDS, 0)
            for kind, n in b.errors.items():
                classes[error_class(kind)] += n
            lat = np.frombuffer(b.latencies_s, dtype=np.float32).astype(np.float64)
            rows.append({"t": t, "sent": b.sent, "ok": b.ok, "errors": classes,
                         **{k: v for k, v in percentiles_ms(lat, (50, 99)).items()}})
        return {
            "bucket_s": 1,
            "started_unix": round(self.t0_unix, 3) if self.t0_unix is not None else None,
            "note": "requests by the second they were scheduled in; latency of OK responses from that time",
            "seconds": rows,
            "events": [{"t": round(self.rel(e.at), 3), "label": e.label, "source": e.source}
                       for e in sorted(self.events, key=lambda e: e.at)],
            "versions": {v: {"first_s": round(self.rel(a), 3), "last_s": round(self.rel(b), 3)}
                         for v, (a, b) in self.versions.items()},
        }


def compare_to_baseline(timeline: Timeline, start_s: float, end_s: float, baseline_end_s: float,
                        baseline_s: float) -> dict:
    """The requests scheduled in [start_s, end_s) of the run against the steady state of the `baseline_s`
    seconds ending at `baseline_end_s`, whole seconds each. `p99_ratio` is window/baseline (None without OK
    requests on either side)."""
    base = timeline.window(max(0.0, baseline_end_s - baseline_s), max(0.0, baseline_end_s))
    win = timeline.window(np.floor(start_s), end_s)
    ratio = (round(win["p99_ms"] / base["p99_ms"], 3) if base["ok"] and win["ok"] and base["p99_ms"] > 0
             else None)
    return {"before": base, "after": win, "p99_ratio": ratio, "failed_after": win["errors"]}


def p99_after_vs_before(timeline: Timeline, event_s: float, after_s: float = 5.0, before_s: float = 10.0,
                        gap_s: float = 1.0) -> dict:
    """The seconds just after an event (at `event_s`, run time) against the steady state before it.

    `before`: the `before_s` whole seconds ending `gap_s` before the event's second (so the event's own second is
    not in the baseline); `after`: the seconds from the event's second for `after_s`.
    """
    start = float(np.floor(event_s))
    return compare_to_baseline(timeline, start, start + after_s, start - gap_s, before_s)
