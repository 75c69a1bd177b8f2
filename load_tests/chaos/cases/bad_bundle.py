"""Fault case `bad_bundle`: broken versions published under a serving service are refused, and it keeps serving.

A real `twinrank serve` process (uvicorn) serves a small bundle of the shipped student while a client sends
/rank requests. Each kind of broken version (`broken_bundles.BREAKAGES`: corrupted, truncated or missing file,
a truncated encoder the served model shares, wrong dimensions, a manifest naming a file that is not there, a
cut-off manifest) is published in turn and CURRENT switched to it. Per kind: refused or not, the reason the
service gives in `/metrics`, whether its log names it, and whether it was tried again on later polls. Then a
good version is published, to show the service still swaps. Figures: failed requests (want 0), the served
version over the run (want: unchanged until the good one), the refusals counted in `/metrics`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.broken_bundles import BREAKAGES, EXPECTED_REASON, copy_version, publish_broken, switch_current

NAME = "bad_bundle"
REPO = Path(__file__).resolve().parents[3]
WATCH_S = 0.2
QUERIES = ["laufschuhe damen", "wohnung mieten berlin", "flug mallorca", "gartenmoebel holz", "kinder fahrrad"]


@dataclass
class Sample:
    t: float
    latency_s: float
    status: str  # "200", another code, or the transport error's name
    version: str | None


def _build_bundle(root: Path, n_ads: int) -> Path:
    from offline.publish.default_bundle import build_default_bundle

    return build_default_bundle(root, n_ads=n_ads, threads=1)


@contextlib.contextmanager
def _server(root: Path, log_path: Path) -> Iterator[str]:
    """`python -m cli serve` on a free port, watching CURRENT every WATCH_S; yields its base URL."""
    import httpx

    from common.net import free_port

    port = free_port()
    env = {**os.environ, "TWINRANK_WATCH_INTERVAL_S": str(WATCH_S), "TWINRANK_ORT_INTRA_OP_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--bundles", str(root), "--port", str(port),
                                 "--log-level", "warning"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({proc.returncode}); see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready in 120 s")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _traffic(url: str, stop: threading.Event, samples: list[Sample], t0: float, interval_s: float) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=5) as http:
        i = 0
        while not stop.is_set():
            start = time.perf_counter()
            try:
                r = http.post("/rank", json={"query": f"{QUERIES[i % len(QUERIES)]} {i % 50}", "top_k": 5})
                version = r.json().get("bundle_version") if r.status_code == 200 else None
                samples.append(Sample(start - t0, time.perf_counter() - start, str(r.status_code), version))
            except httpx.HTTPError as exc:
                samples.append(Sample(start - t0, time.perf_counter() - start, type(exc).__name__, None))
            i += 1
            stop.wait(max(0.0, interval_s - (time.perf_counter() - start)))


_EVENT = re.compile(r'^twinrank_bundle_events_total\{event="(\w+)",reason="(\w+)"\} ([0-9.e+]+)$', re.M)


def _events(url: str) -> dict[tuple[str, str], int]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {(e, r): int(float(n)) for e, r, n in _EVENT.findall(text)}


def _refusals(url: str) -> int:
    return sum(n for (event, _), n in _events(url).items() if event == "refused")


def run(ctx: CaseContext) -> CaseResult:
    t_start = time.monotonic()
    root = ctx.workdir / "bundles"
    good = _build_bundle(root, 40 if ctx.quick else 3000)
    hold_s = 4 * WATCH_S if ctx.quick else 10 * WATCH_S  # later polls that must not retry a refused version
    kinds: dict[str, dict] = {}
    samples: list[Sample] = []
    marks: list[tuple[float, str]] = []
    log_path = ctx.workdir / "server.log"
    with _server(root, log_path) as url:
        stop, t0 = threading.Event(), time.perf_counter()
        client = threading.Thread(target=_traffic, args=(url, stop, samples, t0, 0.04 if ctx.quick else 0.02))
        client.start()
        try:
            time.sleep(1.0)
            for kind in BREAKAGES:
                before = _events(url)
                marks.append((time.perf_counter() - t0, kind))
                broken = publish_broken(root, good, kind)
                published = time.perf_counter()
                deadline = published + 30
                while _refusals(url) == sum(n for (e, _), n in before.items() if e == "refused"):
                    if time.perf_counter() > deadline:
                        break
                    time.sleep(0.05)
                seconds = time.perf_counter() - published
                time.sleep(hold_s)
                after = _events(url)
                new = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
                refused = {r: n for (e, r), n in new.items() if e == "refused"}
                log_text = log_path.read_text(encoding="utf-8", errors="replace")
                kinds[kind] = {"refused": bool(refused), "reason": ",".join(sorted(refused)) or None,
                               "expected_reason": EXPECTED_REASON[kind],
                               "tries": sum(refused.values()),  # 1: refused once, not retried on later polls
                               "logged": f"refused bundle {broken.name}" in log_text,
                               "loaded_instead": any(e == "loaded" for e, _ in new),
                               "seconds_to_refuse": round(seconds, 2)}
            # A good version after them all: the service must still swap.
            fine = copy_version(root, good, "good")
            marks.append((time.perf_counter() - t0, "good version"))
            switch_current(root, fine.name)
            deadline = time.perf_counter() + 30
            while not any(s.version == fine.name for s in samples[-5:]) and time.perf_counter() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            recovered_how = {r for (e, r), n in _events(url).items() if e == "loaded" and r != "startup"}
        finally:
            stop.set()
            client.join()
        refusals_in_metrics = _refusals(url)
    return _result(ctx, good.name, fine.name, kinds, samples, marks, refusals_in_metrics, recovered_how,
                   time.monotonic() - t_start)


def _result(ctx: CaseContext, good: str, fine: str, kinds: dict[str, dict], samples: list[Sample],
            marks: list[tuple[float, str]], refusals_in_metrics: int, recovered_how: set[str],
            seconds: float) -> CaseResult:
    t_good = next(t for t, label in marks if label == "good version")
    failed = [s for s in samples if s.status != "200"]
    before_good = {s.version for s in samples if s.t < t_good and s.status == "200"}
    recovered = any(s.version == fine for s in samples)
    lat = sorted(s.latency_s for s in samples if s.status == "200")
    p99_ms = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3, 1) if lat else None
    all_refused = all(k["refused"] and not k["loaded_instead"] for k in kinds.values())
    right_reasons = all(k["reason"] == k["expected_reason"] for k in kinds.values())
    once = all(k["tries"] == 1 for k in kinds.values())
    logged = all(k["logged"] for k in kinds.values())
    passed = (all_refused and right_reasons and once and logged and not failed and before_good == {good}
              and recovered and refusals_in_metrics == len(kinds))
    plot = _plot(ctx.out_dir, samples, marks)
    n_ok = sum(k["refused"] for k in kinds.values())
    summary = (f"{n_ok}/{len(kinds)} kinds of broken version refused ({refusals_in_metrics} refusals in /metrics, "
               f"each tried once); {len(failed)} of {len(samples)} requests failed; served {sorted(before_good)} "
               f"throughout, then swapped to the good version ({'yes' if recovered else 'no'})")
    details = [f"- `{kind}`: refused {'yes' if k['refused'] else 'NO'} ({k['reason']}, expected "
               f"{k['expected_reason']}) after {k['seconds_to_refuse']} s; tries {k['tries']}; logged "
               f"{'yes' if k['logged'] else 'no'}" for kind, k in kinds.items()]
    return CaseResult(name=NAME, passed=passed, summary=summary, seconds=round(seconds, 1),
                      plots=[plot] if plot else [], details=details,
                      figures={"kinds": kinds, "failed_requests": len(failed), "requests": len(samples),
                               "served_versions_before_good": sorted(before_good),
                               "served_version_unchanged": before_good == {good},
                               "refusals_in_metrics": refusals_in_metrics, "recovered_to_good_version": recovered,
                               "good_version_loaded_as": sorted(recovered_how), "p99_ms": p99_ms,
                               "failed_examples": [f"{s.status} at {s.t:.2f}s" for s in failed[:5]]})


def _plot(out_dir: Path, samples: list[Sample], marks: list[tuple[float, str]]) -> str | None:
    """Latency of every request over the run, a line where each version was published."""
    if not samples:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4))
    versions = sorted({s.version for s in samples if s.version})
    for v in versions:
        pts = [s for s in samples if s.version == v]
        ax.scatter([s.t for s in pts], [s.latency_s * 1e3 for s in pts], s=6, label=f"served by {v}")
    bad = [s for s in samples if s.status != "200"]
    if bad:
        ax.scatter([s.t for s in bad], [s.latency_s * 1e3 for s in bad], s=20, marker="x", color="red", label="failed")
    for t, label in marks:
        ax.axvline(t, color="grey", lw=0.6, ls="--")
        ax.text(t, ax.get_ylim()[1], label, rotation=90, va="top", ha="right", fontsize=7)
    ax.set(xlabel="seconds", ylabel="latency (ms)", title="bad_bundle: broken versions published under load")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    name = "bad_bundle.png"
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name
