"""`twinrank loadtest`: wait for the target to be ready, warm it up, run one rate or a sweep, write reports."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from common.machine import describe
from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.engine import run
from load_tests.generator.http1 import Pool, Target
from load_tests.generator.mix import DEFAULT_BODIES, ads_from_table, build_mix
from load_tests.generator.queries import load_queries, read_query_stream
from load_tests.generator.sweep import sweep
from load_tests.generator.timeline import Timeline
from load_tests.tools.loadtest_report import write_loadtest_report
from load_tests.tools.spec import LoadTestSpec


async def _get_status(target: Target, path: str) -> int:
    pool = Pool(target, 1)
    conn = await pool.acquire()
    try:
        status, _, _ = await asyncio.wait_for(conn.exchange(target.get_request(path)), 5)
        return status
    finally:
        conn.close()


def wait_ready(target: Target, path: str, timeout: float) -> None:
    """Poll GET `path` until it answers 200; raise TimeoutError naming the address otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            status = asyncio.run(_get_status(target, path))
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        except TimeoutError:
            last = "timed out"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target.host}:{target.port}{path} not ready after {timeout:g} s ({last})")
        time.sleep(0.5)


def stream_queries(spec: LoadTestSpec) -> tuple[list[str], int, bool]:
    """(queries, request bodies, whether bodies take the queries in turn) for the spec's query stream."""
    if spec.query_stream == "distinct":
        return load_queries(spec.queries, seed=spec.seed), DEFAULT_BODIES, False
    if spec.query_stream == "rows":
        if not spec.queries:
            raise ValueError("--query-stream rows needs --queries (a file whose rows are replayed)")
        rows = read_query_stream(spec.queries, spec.seed)
        return rows, len(rows), True
    raise ValueError(f"--query-stream must be distinct or rows (got {spec.query_stream!r})")


def run_loadtest(spec: LoadTestSpec, out_dir: Path | None, command: str = "", stem: str = "loadtest") -> dict:
    """Run the spec; write `<stem>.json/.md/.png` into `out_dir` when given; return the report dict."""
    target = Target.parse(spec.url, spec.path)
    queries, n_bodies, in_order = stream_queries(spec)
    pool = ads_from_table(spec.ads_table, max(200, spec.ads_per_request), spec.seed) if spec.ads_table else None
    requests = build_mix(queries, ads_ratio=spec.ads_ratio, ads_per_request=spec.ads_per_request, ad_pool=pool,
                         top_k=spec.top_k, defect_weight=spec.defect_weight, extra=spec.extra, seed=spec.seed,
                         n_bodies=n_bodies, in_order=in_order)
    if spec.ready_timeout > 0:
        wait_ready(target, spec.ready_path, spec.ready_timeout)
    if spec.warmup > 0:
        run(target, requests, OpenLoopConfig(rate=min(spec.rates), duration=spec.warmup, timeout=spec.timeout,
                                        max_conns=spec.max_conns, progress=spec.progress), label="warm-up")

    def run_at(rate: float) -> dict:
        cfg = OpenLoopConfig(rate=rate, duration=spec.duration, timeout=spec.timeout, max_conns=spec.max_conns,
                        progress=spec.progress)
        timeline = Timeline(straggler_s=spec.timeout)
        out = run(target, requests, cfg, spec.arrivals, spec.seed, label=f"{rate:g} req/s", timeline=timeline)
        if spec.event_file:  # read after the run: another process appends to it while the load runs
            timeline.read_event_file(spec.event_file)
            out["timeline"] = timeline.to_dict()
        return out

    doc: dict = {
        "target": f"http://{target.host}:{target.port}{target.path}",
        "command": command,
        "arrivals": spec.arrivals,
        "duration_s": spec.duration,
        "timeout_s": spec.timeout,
        "mix": {"ads_ratio": spec.ads_ratio, "ads_per_request": spec.ads_per_request, "top_k": spec.top_k,
                "defect_weight": spec.defect_weight, "n_queries": len(set(queries)),
                "query_stream": spec.query_stream, "n_bodies": len(requests),
                "queries_source": "file" if spec.queries else "built-in",
                "ads_source": "ads table" if spec.ads_table else "synthetic (encoded by the service)"},
        "machine": describe(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if len(spec.rates) == 1:
        doc["runs"] = [run_at(spec.rates[0])]
    else:
        doc.update(sweep(spec.rates, run_at, spec.slo))
    doc["machine_after"] = {"load_average_1_5_15": describe()["load_average_1_5_15"]}
    if out_dir is not None:
        for p in write_loadtest_report(out_dir, doc, stem):
            sys.stderr.write(f"wrote {p}\n")
    return doc
