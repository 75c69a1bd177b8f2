"""Benchmark part 4: POST /rank over real HTTP against `twinrank serve` on the 1M-ad bundle
(`synthetic_bundle`): fixed-rate runs, then a rate sweep for the p99 SLO, with the server's CPU per request by
thread and by /rank stage (from its /metrics)."""

from __future__ import annotations

import time
from pathlib import Path

from common.net import free_port
from load_tests.bench.server import Server
from load_tests.tools.server_metrics import served_requests


def per_request_cpu(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], process_cpu_s: float,
                    requests: int) -> tuple[dict[str, float], dict[str, float]]:
    """CPU ms per request over a run, by thread role and by /rank stage (from `Server.cpu_counters`). The thread
    split gains `unattributed`: the process's CPU that no Python thread accounts for (native threads, threads that
    exited). `requests` comes from `served_requests` (at least 1)."""
    def per(kind: str) -> dict[str, float]:
        return {k: (v - before[kind].get(k, 0.0)) * 1000 / requests for k, v in after[kind].items()}

    by_thread = per("thread")
    by_thread["unattributed"] = process_cpu_s * 1000 / requests - sum(by_thread.values())
    return ({k: round(ms, 3) for k, ms in by_thread.items()}, {k: round(ms, 3) for k, ms in per("stage").items()})


def end_to_end(work: Path, bundles: Path, queries: str | None, rate: float = 200.0, duration: float = 30.0,
               sweep_rates: tuple[float, ...] = (100, 200, 300, 400, 600, 800), sweep_duration: float = 15.0,
               slo_ms: float = 20.0, server_env: dict[str, str] | None = None, warmup: float = 5.0,
               repeats: int = 3) -> dict:
    """Start the service over `bundles`, run /rank query-only at `rate` `repeats` times (a shared machine's
    tail varies from run to run; the headline is the median run), then sweep for the SLO."""
    from load_tests.generator.sweep import Slo
    from load_tests.tools.loadtest import run_loadtest
    from load_tests.tools.spec import LoadTestSpec
    from service.bundle import current_version_dir, load_manifest

    env = {"TWINRANK_QUERY_CACHE_SIZE": "0", "TWINRANK_RELOAD_ENABLED": "false", **(server_env or {})}
    manifest = load_manifest(current_version_dir(bundles))
    server = Server(bundles, free_port(), work / "serve.log", env)
    out: dict = {"bundle": {"n_ads": manifest.index.n_ads, "factory": manifest.index.factory,
                            "search_params": manifest.index.search_params, "dim": manifest.model.dim,
                            "scoring_head": manifest.calibration.head},
                 "server_env": env}
    try:
        common = dict(url=server.url, queries=queries, top_k=10, ready_timeout=600.0, progress=True)
        t0 = time.perf_counter()
        from load_tests.generator.http1 import Target
        from load_tests.tools.loadtest import wait_ready

        wait_ready(Target.parse(server.url), "/readyz", 600.0)
        out["server_ready_s"] = round(time.perf_counter() - t0, 1)
        fixed_runs = []
        for i in range(repeats):
            cpu0, counters0 = server.cpu_seconds(), server.cpu_counters()
            warm = warmup if i == 0 else 1.0
            fixed = run_loadtest(LoadTestSpec(rates=[rate], duration=duration, warmup=warm, **common), None)
            run = fixed["runs"][0]
            cpu, counters = server.cpu_seconds() - cpu0, server.cpu_counters()
            served = served_requests(run, rate, warm)
            run["server_cpu_ms_per_request"] = round(cpu * 1000 / served, 3)
            by_thread, by_stage = per_request_cpu(counters0, counters, cpu, served)
            run["server_cpu_ms_per_request_by_thread"] = by_thread
            run["server_cpu_ms_per_request_by_stage"] = by_stage
            fixed_runs.append(run)
        out["fixed_rate"] = {**fixed, "runs": fixed_runs, "repeats": repeats}
        runs = []

        def tracked(rate_: float) -> dict:
            c0 = server.cpu_seconds()
            warm = min(1.0, warmup)
            doc = run_loadtest(LoadTestSpec(rates=[rate_], duration=sweep_duration, warmup=warm, **common), None)
            r = doc["runs"][0]
            served = served_requests(r, rate_, warm)
            r["server_cpu_ms_per_request"] = round((server.cpu_seconds() - c0) * 1000 / served, 3)
            runs.append(r)
            return r

        from load_tests.generator.sweep import sweep

        out["sweep"] = sweep(sweep_rates, tracked, Slo(p99_ms=slo_ms))
    finally:
        server.stop()
        out["server_log_tail"] = server.log_path.read_text(errors="replace")[-2000:]
    return out
