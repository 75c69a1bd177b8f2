"""What the load-based fault cases share: a bundle to serve, `twinrank serve` in a child process, open-loop load
in a background thread with its timeline, a capacity estimate, and the writer commands run as child processes.

Everything heavy (the server, the writers) runs in its own process, so the generator's thread in the case's
process is not slowed by them (a writer in-process would hold the GIL and show up as latency).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.net import free_port
from load_tests.bench.server import ServerProcess
from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.engine import run
from load_tests.generator.http1 import Target
from load_tests.generator.mix import build_mix
from load_tests.generator.queries import builtin_queries
from load_tests.generator.timeline import Timeline

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "shipped" / "twinbert-de"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child `python -m cli ...`: this checkout first on the path (not an installed copy)."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else ""), **(extra or {})}


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m cli ARGS` (what `twinrank ARGS` runs), output captured; raises on a non-zero exit."""
    proc = subprocess.run([sys.executable, "-m", "cli", *args], env=child_env(), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"twinrank {args[0]} {args[1] if len(args) > 1 else ''} exited {proc.returncode}: "
                           f"{tail[0]}")
    return proc


# ---- bundles ------------------------------------------------------------------------------------------------
def write_catalog(path: Path, n: int, seed: int = 0) -> Path:
    """A synthetic ad table of `n` rows (ids `ad-0000000`...), usable as an `index build --catalog`."""
    from load_tests.bench.synthetic_bundle import write_ad_table

    write_ad_table(path, n, seed)
    return path


def write_upserts(path: Path, n: int, seed: int) -> Path:
    """`n` new ads (ids `up-<seed>-<i>`) as a JSONL catalog for `index update --upsert`."""
    import json

    rng = np.random.default_rng(seed)
    words = builtin_queries(n, seed)
    rows = [{"ad_id": f"up-{seed}-{i}", "title": f"{w} kaufen", "description": "Neu im Sortiment.",
             "bid": round(float(rng.uniform(0.1, 2.0)), 3), "p_click": round(float(rng.uniform(0.01, 0.08)), 4)}
            for i, w in enumerate(words)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def retagged_model(src: Path, dst: Path, tag: str) -> Path:
    """A copy of the model directory `src` whose ONNX towers carry one more metadata entry: other bytes and
    digests (to the service, a new model: new sessions, a new model id), the same arithmetic."""
    import hashlib
    import json

    import onnx

    shutil.copytree(src, dst)
    info = json.loads((dst / "model.json").read_text())
    for name in list(info["files"]):
        if not name.endswith(".onnx"):
            continue
        model = onnx.load(str(dst / name))
        entry = model.metadata_props.add()
        entry.key, entry.value = "twinrank_chaos_retag", tag
        onnx.save(model, str(dst / name))
        info["files"][name] = hashlib.sha256((dst / name).read_bytes()).hexdigest()
    info["model_id"] = f"{info.get('model_id', 'model').split('@')[0]}@{tag}"
    (dst / "model.json").write_text(json.dumps(info, indent=2))
    return dst


# ---- the server ---------------------------------------------------------------------------------------------
class Serve(ServerProcess):
    """`twinrank serve --bundles ROOT` of this checkout on a free loopback port, watching CURRENT."""

    def __init__(self, bundles: Path, log_path: Path, watch_interval_s: float = 0.5,
                 env: dict[str, str] | None = None, log_level: str = "warning") -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "cli", "serve", "--bundles", str(bundles), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", log_level]
        super().__init__(cmd, f"http://127.0.0.1:{port}", log_path,
                         child_env({"TWINRANK_WATCH_INTERVAL_S": str(watch_interval_s), "PYTHONUNBUFFERED": "1",
                                    **(env or {})}))

    def wait_ready(self, timeout: float = 180) -> None:
        from load_tests.tools.loadtest import wait_ready

        try:
            wait_ready(Target.parse(self.url), "/readyz", timeout)
        except TimeoutError:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited {self.proc.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-300:]}") from None
            raise

    def __enter__(self) -> Serve:
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- load ---------------------------------------------------------------------------------------------------
REQUESTS = build_mix(builtin_queries(500), n_bodies=500)


def open_loop(url: str, rate: float, duration: float, timeline: Timeline | None = None,
              stop: threading.Event | None = None, timeout: float = 2.0) -> dict:
    return run(Target.parse(url), REQUESTS, OpenLoopConfig(rate=rate, duration=duration, timeout=timeout,
                                                           progress=False), timeline=timeline, stop=stop)


@dataclass
class BackgroundLoad:
    """Open-loop load on a thread: `mark` events on its `timeline` while it runs, `stop()` to end it early."""

    url: str
    rate: float
    duration: float
    timeout: float = 2.0
    timeline: Timeline = field(default_factory=Timeline)
    result: dict | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __enter__(self) -> BackgroundLoad:
        self.timeline.straggler_s = self.timeout

        def body() -> None:
            try:
                self.result = open_loop(self.url, self.rate, self.duration, self.timeline, self._stop, self.timeout)
            except BaseException as exc:  # handed to the caller in stop()
                self._error = exc

        self._thread = threading.Thread(target=body, name="chaos-load", daemon=True)
        self._thread.start()
        while self.timeline.t0 is None and self._thread.is_alive():
            time.sleep(0.01)
        return self

    def elapsed(self) -> float:
        return time.monotonic() - (self.timeline.t0 or time.monotonic())

    def wait_until(self, run_s: float) -> None:
        """Sleep until `run_s` seconds into the run."""
        time.sleep(max(0.0, run_s - self.elapsed()))

    def stop(self) -> dict:
        """End the load now (what is in flight finishes); its result."""
        self._stop.set()
        return self.join()

    def join(self) -> dict:
        """Wait for the whole schedule to be sent and answered; its result."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self.result is not None
        return self.result

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def wait_for_version(timeline: Timeline, old: str | None, timeout: float) -> str | None:
    """Wait until the responses name a version other than `old`; the new one, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if timeline.version is not None and timeline.version != old:
            return timeline.version
        time.sleep(0.05)
    return None


def measure_capacity(url: str, rates: tuple[float, ...] = (25, 50, 100, 150, 200, 300, 400), step_s: float = 8.0,
                     p99_ms: float = 100.0) -> dict:
    """The highest offered rate the server keeps up with: achieved ≥ 95 % of offered, under 1 % errors and
    p99 ≤ `p99_ms`, climbing `rates` until one fails. Returns the rate and every step."""
    steps, best = [], None
    for rate in rates:
        out = open_loop(url, rate, step_s)
        ok = (out["achieved_rps"] >= 0.95 * rate and out["error_rate"] < 0.01
              and out["latency_ms"]["p99_ms"] <= p99_ms)
        steps.append({"rate": rate, "achieved_rps": out["achieved_rps"], "p99_ms": out["latency_ms"]["p99_ms"],
                      "error_rate": round(out["error_rate"], 4), "kept_up": ok})
        if not ok:
            break
        best = rate
    return {"capacity_rps": best, "steps": steps, "rule": f"achieved ≥ 95 % of offered, errors < 1 %, "
                                                          f"p99 ≤ {p99_ms:g} ms"}


def capacity_line(capacity: dict | None, fallback_rps: float) -> str:
    """How the rate was chosen, for a case's details: the capacity and the steps that found it."""
    if capacity is None:
        return "fixed rate: the quick version does not measure capacity"
    steps = ", ".join(f"{s['rate']:g} req/s → p99 {s['p99_ms']:.0f} ms{'' if s['kept_up'] else ' (not kept up)'}"
                      for s in capacity["steps"])
    found = (f"capacity {capacity['capacity_rps']:g} req/s" if capacity["capacity_rps"]
             else f"no step kept up (the machine is busy): {fallback_rps:g} req/s")
    return f"{found} ({capacity['rule']}; steps: {steps})"
