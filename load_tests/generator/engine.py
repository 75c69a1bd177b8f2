"""The open-loop load generator: requests go out at their scheduled times, whatever earlier ones do.

Latency is measured from each request's *scheduled* time, so a server stall shows up in every request
due during the stall (no coordinated omission), and the generator's own lateness is counted against it.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import sys
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.http1 import Pool, ProtocolError, Target
from load_tests.generator.mix import Request
from load_tests.generator.stats import RunStats
from load_tests.generator.timeline import Timeline

TIMING_KEYS = ("timings_ms", "timings", "stages_ms", "stage_ms")


async def _preopen(pool: Pool, n: int) -> None:
    """Open `n` keep-alive connections up front so the first second does not pay for TCP handshakes."""
    conns = await asyncio.gather(*(pool.acquire() for _ in range(n)), return_exceptions=True)
    for conn in conns:  # failures are left for the run itself to count by kind
        if not isinstance(conn, BaseException):
            await pool.release(conn, True)


def classify_exception(exc: BaseException) -> str:
    """An error kind for the report."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return "connection_reset"
    if isinstance(exc, ProtocolError | ValueError | asyncio.LimitOverrunError):
        return "protocol_error"
    if isinstance(exc, OSError):
        return "connection_error"
    return type(exc).__name__


def extract_timings(body: bytes) -> dict[str, float] | None:
    """Per-stage server timings (ms) from a /rank response, under the first key of TIMING_KEYS found."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    for key in TIMING_KEYS:
        val = doc.get(key)
        if isinstance(val, dict):
            return {k: float(v) for k, v in val.items() if isinstance(v, int | float)}
    return None


class _Progress:
    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled and sys.stderr is not None
        self.label = label
        self.last = 0.0

    def update(self, stats: RunStats, elapsed: float, inflight: int, final: bool = False) -> None:
        if not self.enabled or (not final and elapsed - self.last < 1.0):
            return
        self.last = elapsed
        err = sum(stats.errors.values())
        p99 = stats.latency.get_value_at_percentile(99) / 1000 if stats.ok else 0.0
        sys.stderr.write(
            f"\r{self.label} t={elapsed:5.1f}s sent={stats.sent} ok={stats.ok} err={err} "
            f"inflight={inflight} p99={p99:.2f}ms   " + ("\n" if final else "")
        )
        sys.stderr.flush()


async def run_open_loop(
    target: Target,
    requests: Sequence[Request],
    times: np.ndarray,
    config: OpenLoopConfig,
    *,
    on_sent: Callable[[int, float], None] | None = None,
    label: str = "",
    timeline: Timeline | None = None,
    stop: threading.Event | None = None,
) -> tuple[RunStats, float]:
    """Send `requests[i % len]` at `start + times[i]`; return the stats and the wall time (s).

    `on_sent(i, lag_s)` is called as each request is handed to its connection (tests use it). `timeline`, when
    given, gets every request in the second it was scheduled in, and the bundle versions its responses name.
    `stop`, when set (from any thread), ends the schedule early: nothing more is sent, what is in flight finishes,
    and `scheduled` counts only what was due before.
    """
    loop = asyncio.get_running_loop()
    pool = Pool(target, config.max_conns)
    stats = RunStats(scheduled=len(times))
    heads = {id(r): target.post_head(len(r.body)) for r in requests}
    progress = _Progress(config.progress, label or f"{config.rate:g} req/s")
    inflight: set[asyncio.Task] = set()
    every = max(1, round(1 / config.stage_sample)) if config.stage_sample > 0 else 0
    counter = 0

    async def one(i: int, due: float, req: Request) -> None:
        nonlocal counter
        conn = None
        reusable = False
        try:
            async with asyncio.timeout_at(due + config.timeout):
                conn = await pool.acquire()
                stats.sent += 1
                if timeline is not None:
                    timeline.sent(due)
                lag = loop.time() - due
                stats.record_send_lag(lag)
                if on_sent is not None:
                    on_sent(i, lag)
                status, body, reusable = await conn.exchange(heads[id(req)] + req.body)
            done = loop.time()
        except BaseException as exc:  # every failure is counted by kind, never raised
            kind = "cancelled" if isinstance(exc, asyncio.CancelledError) else classify_exception(exc)
            stats.record_error(kind)
            if timeline is not None:
                timeline.error(due, kind)
            if kind == "cancelled":
                raise
            return
        finally:
            if conn is not None:
                await pool.release(conn, reusable)
        if status >= 400:
            stats.record_error(f"http_{status}", done - due)
            if timeline is not None:
                timeline.error(due, f"http_{status}")
            return
        stats.record_ok(done - due, req.mode)
        if timeline is not None:
            timeline.ok(due, done - due, body, done)
        counter += 1
        if every and counter % every == 0:
            timings = extract_timings(body)
            if timings:
                stats.record_stages(timings)

    await _preopen(pool, min(config.max_conns, config.preopen))
    t_start = loop.time() + 0.02
    if timeline is not None:
        timeline.start(t_start, float(times[-1]) if len(times) else 0.0)
    n = len(times)
    i = 0
    while i < n:
        now = loop.time()
        due = t_start + times[i]
        if due > now:
            await asyncio.sleep(due - now)
            now = loop.time()
        # Launch everything due by now (a late wake-up sends the backlog at once; its lag counts).
        if stop is not None and stop.is_set():
            stats.scheduled = i
            break
        while i < n and t_start + times[i] <= now:
            task = loop.create_task(one(i, t_start + float(times[i]), requests[i % len(requests)]))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            i += 1
        progress.update(stats, now - t_start, len(inflight))
    while inflight:
        await asyncio.wait(inflight, timeout=0.5)
        progress.update(stats, loop.time() - t_start, len(inflight))
    wall = loop.time() - t_start
    progress.update(stats, wall, 0, final=True)
    pool.close()
    return stats, wall


SELECT_MAX_CONNS = 900  # select(2) watches at most 1024 descriptors


def precise_event_loop(max_conns: int) -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake on time. The default epoll selector rounds every timeout up to a whole
    millisecond (`selectors.EpollSelector`), so each send went out up to 1 ms late, and an open-loop generator
    counts that lateness as latency: against the echo server at 200 req/s it was p50 0.8 / p99 1.4 ms of send lag,
    against 0.3 / 0.5-0.75 ms with select(2), whose timeout has microsecond resolution."""
    if max_conns <= SELECT_MAX_CONNS:
        return asyncio.SelectorEventLoop(selectors.SelectSelector())
    return asyncio.new_event_loop()


def run(target: Target, requests: Sequence[Request], config: OpenLoopConfig, arrivals: str = "constant",
        seed: int = 0, label: str = "", timeline: Timeline | None = None, stop: threading.Event | None = None) -> dict:
    """Run one fixed-rate open-loop test and return its summary dict (with the `timeline` when one is given:
    a caller on another thread may `timeline.mark(...)` events while it runs)."""
    from load_tests.generator.schedule import arrival_times

    times = arrival_times(config.rate, config.duration, arrivals, seed)  # type: ignore[arg-type]
    cpu0 = time.process_time()
    with asyncio.Runner(loop_factory=lambda: precise_event_loop(config.max_conns)) as runner:
        stats, wall = runner.run(run_open_loop(target, requests, times, config, label=label, timeline=timeline,
                                              stop=stop))
    cpu = time.process_time() - cpu0
    out = stats.summary(config.rate, config.duration, wall)
    if timeline is not None:
        out["timeline"] = timeline.to_dict()
    out["arrivals"] = arrivals
    # The generator's own cost: CPU seconds it used per request sent (share of a core at this rate).
    out["generator_cpu_s"] = round(cpu, 3)
    out["generator_cpu_us_per_request"] = round(cpu / max(stats.sent, 1) * 1e6, 1)
    out["generator_core_share"] = round(cpu / max(wall, 1e-9), 3)
    return out
