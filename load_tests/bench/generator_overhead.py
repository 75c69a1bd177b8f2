"""Benchmark part 5: the load generator's own overhead against a trivial server in another process."""

from __future__ import annotations

from pathlib import Path

from common.net import free_port
from load_tests.bench.server import echo_server


def generator_overhead(work: Path, rates: tuple[float, ...] = (500, 1000, 2000, 3000, 4000),
                       duration: float = 5.0) -> dict:
    """The generator against a trivial server in another process: the highest rate it sustains with a
    p99 send lag under 5 ms, and its CPU cost per request."""
    from load_tests.generator.config import OpenLoopConfig
    from load_tests.generator.engine import run
    from load_tests.generator.http1 import Target
    from load_tests.generator.mix import build_mix
    from load_tests.generator.queries import builtin_queries
    from load_tests.tools.loadtest import wait_ready

    port = free_port()
    server = echo_server(port, work / "echo.log")
    try:
        target = Target.parse(f"http://127.0.0.1:{port}")
        wait_ready(target, "/", 20)
        reqs = build_mix(builtin_queries(), n_bodies=500)
        runs = []
        for r in rates:
            s = run(target, reqs, OpenLoopConfig(rate=r, duration=duration, stage_sample=0.0), label=f"echo {r:g}/s")
            runs.append({k: s[k] for k in ("offered_rps", "achieved_rps", "errors", "generator_cpu_us_per_request",
                                           "generator_core_share")}
                        | {"latency_p99_ms": s["latency_ms"]["p99_ms"], "latency_p50_ms": s["latency_ms"]["p50_ms"],
                           "send_lag_p99_ms": s["send_lag_ms"]["p99_ms"]})
        ok = [r for r in runs if r["send_lag_p99_ms"] <= 5.0 and r["achieved_rps"] >= 0.95 * r["offered_rps"]
              and not r["errors"]]
        return {"runs": runs, "max_rate_send_lag_p99_under_5ms": max((r["offered_rps"] for r in ok), default=None)}
    finally:
        server.stop()
