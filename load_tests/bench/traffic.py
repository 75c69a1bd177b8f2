"""Benchmark part `traffic`: the test split's own query stream (every row's query in a seeded shuffle: head queries
repeat as in real traffic) with the query cache on, beside the all-distinct stream with the cache off (the
headline's setting), on the same bundle, at the same fixed rate, runs alternating.

Each stream run starts a fresh server, so a run replays about one pass of the stream from a cold cache: the hit
rate is what one pass of those 10,000 rows earns (2,860 distinct queries: 1 − 2,860/10,000 ≈ 71 %; the warm-up's
requests, counted too, replay the stream's start once more), not that of a server whose cache has seen the stream
before. CPU per request is the server process's CPU over the run divided by its requests.
"""

from __future__ import annotations

import time
from pathlib import Path

from common.net import free_port
from load_tests.bench.server import Server
from load_tests.tools.server_metrics import query_cache_counts, served_requests

STREAMS = {  # name → (query stream, server env)
    "distinct_cache_off": ("distinct", {"TWINRANK_QUERY_CACHE_SIZE": "0"}),
    "replay_cache_on": ("rows", {}),
}


def _one_run(work: Path, bundles: Path, queries: str, stream: str, env: dict[str, str], rate: float,
             duration: float, warmup: float, i: int) -> dict:
    from load_tests.generator.http1 import Target
    from load_tests.tools.loadtest import run_loadtest, wait_ready
    from load_tests.tools.spec import LoadTestSpec

    env = {"TWINRANK_RELOAD_ENABLED": "false", **env}
    server = Server(bundles, free_port(), work / f"traffic-{stream}-{i}.log", env)
    try:
        wait_ready(Target.parse(server.url), "/readyz", 600.0)
        cpu0, cache0 = server.cpu_seconds(), query_cache_counts(server.url)
        doc = run_loadtest(LoadTestSpec(url=server.url, rates=[rate], duration=duration, warmup=warmup,
                                        queries=queries, query_stream=stream, top_k=10, ready_timeout=0,
                                        progress=False, seed=i), None)
        run = doc["runs"][0]
        cpu, cache = server.cpu_seconds() - cpu0, query_cache_counts(server.url)
        served = served_requests(run, rate, warmup)
        hits, misses = cache["hit"] - cache0["hit"], cache["miss"] - cache0["miss"]
        return {"p50_ms": run["latency_ms"]["p50_ms"], "p99_ms": run["latency_ms"]["p99_ms"],
                "achieved_rps": run["achieved_rps"], "errors": run["errors"], "sent": run["sent"],
                "server_cpu_ms_per_request": round(cpu * 1000 / served, 3),
                "cache_hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
                "distinct_queries": doc["mix"]["n_queries"], "bodies": doc["mix"]["n_bodies"]}
    finally:
        server.stop()


def realistic_traffic(work: Path, bundles: Path, queries: str, rate: float = 200.0, repeats: int = 3,
                      warmup: float = 3.0, duration: float | None = None, log=print) -> dict:
    """Alternating fixed-rate runs of both streams (`repeats` each); medians beside every run. Without
    `duration`, a replay run lasts one pass of the stream at `rate` (10,000 rows: 50 s at 200 req/s)."""
    from load_tests.generator.queries import read_query_stream

    rows = len(read_query_stream(queries))
    seconds = duration or max(5.0, rows / rate - warmup)
    runs: dict[str, list[dict]] = {name: [] for name in STREAMS}
    for i in range(repeats):
        for name, (stream, env) in STREAMS.items():
            t0 = time.perf_counter()
            runs[name].append(_one_run(work, bundles, queries, stream, env, rate, seconds, warmup, i))
            r = runs[name][-1]
            log(f"traffic {name} #{i + 1}: p99 {r['p99_ms']} ms, CPU {r['server_cpu_ms_per_request']} ms/req, "
                f"hit rate {r['cache_hit_rate']} ({time.perf_counter() - t0:.0f} s)")

    def median(name: str, key: str) -> float | None:
        vals = sorted(r[key] for r in runs[name] if r[key] is not None)
        return vals[len(vals) // 2] if vals else None

    summary = {name: {k: median(name, k) for k in ("p99_ms", "p50_ms", "server_cpu_ms_per_request",
                                                    "cache_hit_rate")} for name in STREAMS}
    base, replay = summary["distinct_cache_off"], summary["replay_cache_on"]
    return {"rate_rps": rate, "duration_s": seconds, "repeats": repeats, "stream_rows": rows, "runs": runs,
            "median": summary,
            "cpu_ratio_replay_vs_distinct": round(replay["server_cpu_ms_per_request"]
                                                  / base["server_cpu_ms_per_request"], 3),
            "p99_ratio_replay_vs_distinct": round(replay["p99_ms"] / base["p99_ms"], 3),
            "note": "each run starts a fresh server: one pass of the stream from a cold cache"}
