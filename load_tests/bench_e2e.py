"""Benchmark 4: end-to-end POST /rank over real HTTP against `twinrank serve` on a 1M-ad bundle.

The bundle holds the exported student (real ONNX query tower, tokenizer, residual head) and a synthetic
1M-ad catalog: ad rows are generated, ad vectors come from `bench_retrieval.synthetic_vectors` (encoding
1M ads with the 12-layer ad tower would take hours here). It is published with the project's own bundle
writer (`offline.publish.index_build` / `offline.publish.bundle_writer`), so the service loads it like any other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

E2E_FACTORY = "HNSW32,SQ8"  # what `twinrank index build` picks for a catalog this size (a test checks)
_TITLES = ["{h} kaufen", "{h} im Angebot", "Top {h} guenstig", "{h} online bestellen", "{h} Vergleich 2024"]
_DESCS = ["Grosse Auswahl, schnelle Lieferung.", "Kostenloser Versand ab 20 Euro.", "Jetzt sparen!",
          "Bis zu 50% reduziert. Nur heute.", "Testsieger im Vergleich."]


def write_ad_table(path: Path, n: int, seed: int = 0, block: int = 200_000) -> None:
    """A synthetic ad table (ad_id, title, description, bid, p_click) of `n` rows, streamed in blocks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from load_tests.queries import _HEADS

    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, n, block):
            m = min(block, n - start)
            heads = rng.integers(0, len(_HEADS), m)
            tpl = rng.integers(0, len(_TITLES), m)
            desc = rng.integers(0, len(_DESCS), m)
            table = pa.table({
                "ad_id": pa.array([f"ad-{i:07d}" for i in range(start, start + m)], pa.string()),
                "title": pa.array([_TITLES[t].format(h=_HEADS[h]) for t, h in zip(tpl, heads, strict=True)]),
                "description": pa.array([_DESCS[d] for d in desc]),
                "bid": pa.array(np.round(rng.uniform(0.05, 2.0, m), 3), pa.float64()),
                "p_click": pa.array(np.round(rng.uniform(0.001, 0.1, m), 4), pa.float64()),
            })
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def build_synthetic_bundle(root: Path, student_dir: Path, vectors_path: Path, factory: str = E2E_FACTORY) -> Path:
    """Publish (or reuse, when CURRENT already matches) a bundle of the student + synthetic ads/vectors.

    A new student over the same vectors and index kind reuses CURRENT's index and ad table (hard links), so
    switching students costs seconds, not an index build (1M ads: about 2.5 minutes here).
    """
    from offline.export.model_dir import MODEL_JSON, read_model_dir
    from offline.publish.bundle_writer import link_or_copy, new_staging_dir, publish
    from offline.publish.index_build import copy_model_files, manifest_fields, write_index
    from service.bundle import VECTORS_FILE, BundleError, current_version_dir, load_manifest

    vectors = np.load(vectors_path, mmap_mode="r")
    n = vectors.shape[0]
    info = read_model_dir(student_dir)
    model_files = {name: digest for name, digest in info["files"].items() if name != MODEL_JSON}
    reusable = None  # CURRENT's directory and index fields, when its index was built over these very vectors
    try:
        cur = current_version_dir(root)
        m = load_manifest(cur)
        same_model = all(m.files.get(name) == digest for name, digest in model_files.items())
        same_index = (m.index.n_ads == n and m.index.factory == factory
                      and _same_vectors(cur / VECTORS_FILE, m.files.get(VECTORS_FILE), vectors_path))
        if same_index and same_model:
            return cur
        if same_index:
            reusable = cur, m.index
    except (BundleError, OSError, ValueError):  # no bundle yet, or an unreadable one: build a fresh version
        pass
    if info["dim"] != vectors.shape[1]:
        raise ValueError(f"student dim {info['dim']} != synthetic vector dim {vectors.shape[1]}")
    staging = new_staging_dir(root)
    try:
        copy_model_files(student_dir, info, staging)
        link_or_copy(vectors_path, staging / VECTORS_FILE)
        if reusable is not None:
            cur, index = reusable
            for name in (index.file, index.ads_file):
                link_or_copy(cur / name, staging / name)
            index_info = index.model_dump()
        else:
            write_ad_table(staging / "ads.parquet", n)
            index_info = write_index(staging, vectors, factory, "float32", "cpu")
        fields = manifest_fields(info, index_info)
        fields["model"]["metrics"] = {"note": f"benchmark bundle: the student of {student_dir.name}, "
                                              f"synthetic {n:,}-ad catalog"}
        return publish(staging, fields, keep=1)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise


def _same_vectors(stored: Path, stored_digest: str | None, vectors_path: Path) -> bool:
    """Whether a bundle's stored vectors (`stored`, sha256 `stored_digest` in its manifest) are the file at
    `vectors_path`: a hard link of it, or equal bytes."""
    from service.bundle.layout import sha256_file

    if stored.exists() and os.path.samefile(stored, vectors_path):
        return True
    return stored_digest == sha256_file(vectors_path)


class Server:
    """`twinrank serve` in a child process on 127.0.0.1; its log goes to a file."""

    def __init__(self, bundles: Path, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        exe = Path(sys.executable).parent / "twinrank"
        if not exe.exists():
            raise RuntimeError(f"the twinrank console script is not installed beside {sys.executable}")
        cmd = [str(exe), "serve", "--bundles", str(bundles), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.url = f"http://127.0.0.1:{port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and its children so far."""
        import psutil

        p = psutil.Process(self.proc.pid)
        procs = [p, *p.children(recursive=True)]
        return sum(sum(x.cpu_times()[:2]) for x in procs)

    def cpu_counters(self) -> dict[str, dict[str, float]]:
        return cpu_counters(self.url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def cpu_counters(url: str) -> dict[str, dict[str, float]]:
    """A twinrank service's CPU seconds from its /metrics: by thread role (`twinrank_thread_cpu_seconds_total`) and
    by /rank stage (`twinrank_stage_cpu_seconds_total`). Empty dicts for a server that exports neither."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode(errors="replace")

    def family(name: str, label: str) -> dict[str, float]:
        pattern = rf'^twinrank_{name}_cpu_seconds_total\{{{label}="(\w+)"\}} (\S+)$'
        return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.MULTILINE)}

    return {"thread": family("thread", "role"), "stage": family("stage", "stage")}


def served_requests(run: dict, rate: float, warmup_s: float) -> int:
    """Requests the server handled over a run, its warm-up included (the CPU counters include it too)."""
    return max(run["sent"] + round(rate * warmup_s), 1)


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end_to_end(work: Path, bundles: Path, queries: str | None, rate: float = 200.0, duration: float = 30.0,
               sweep_rates: tuple[float, ...] = (100, 200, 300, 400, 600, 800), sweep_duration: float = 15.0,
               slo_ms: float = 20.0, server_env: dict[str, str] | None = None, warmup: float = 5.0,
               repeats: int = 3) -> dict:
    """Start the service over `bundles`, run /rank query-only at `rate` `repeats` times (a shared machine's
    tail varies from run to run; the headline is the median run), then sweep for the SLO."""
    from load_tests.loadtest import LoadTestSpec, run_loadtest
    from load_tests.sweep import Slo
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
        from load_tests.http1 import Target
        from load_tests.loadtest import wait_ready

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

        from load_tests.sweep import sweep

        out["sweep"] = sweep(sweep_rates, tracked, Slo(p99_ms=slo_ms))
    finally:
        server.stop()
        out["server_log_tail"] = server.log_path.read_text(errors="replace")[-2000:]
    return out


def generator_overhead(work: Path, rates: tuple[float, ...] = (500, 1000, 2000, 3000, 4000),
                       duration: float = 5.0) -> dict:
    """The generator against a trivial server in another process: the highest rate it sustains with a
    p99 send lag under 5 ms, and its CPU cost per request."""
    from load_tests.generator import RunConfig, run
    from load_tests.http1 import Target
    from load_tests.loadtest import wait_ready
    from load_tests.mix import build_mix
    from load_tests.queries import builtin_queries

    port = free_port()
    log = (work / "echo.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "load_tests.echo_server", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        target = Target.parse(f"http://127.0.0.1:{port}")
        wait_ready(target, "/", 20)
        reqs = build_mix(builtin_queries(), n_bodies=500)
        runs = []
        for r in rates:
            s = run(target, reqs, RunConfig(rate=r, duration=duration, stage_sample=0.0), label=f"echo {r:g}/s")
            runs.append({k: s[k] for k in ("offered_rps", "achieved_rps", "errors", "generator_cpu_us_per_request",
                                           "generator_core_share")}
                        | {"latency_p99_ms": s["latency_ms"]["p99_ms"], "latency_p50_ms": s["latency_ms"]["p50_ms"],
                           "send_lag_p99_ms": s["send_lag_ms"]["p99_ms"]})
        ok = [r for r in runs if r["send_lag_p99_ms"] <= 5.0 and r["achieved_rps"] >= 0.95 * r["offered_rps"]
              and not r["errors"]]
        return {"runs": runs, "max_rate_send_lag_p99_under_5ms": max((r["offered_rps"] for r in ok), default=None)}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
