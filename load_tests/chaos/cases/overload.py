"""Overload at 2x, 5x and 10x capacity: does admission keep its promise?

Capacity is measured first, with a short open-loop ramp: the highest rate the server answers with at most 3 %
refused or failed (a step that fails is tried once more: the machine is shared). Then half capacity gives the
reference p99, and each overload level runs open loop at
k x capacity. Figures per level: the admitted requests' p99 against the half-capacity p99, the refusals' p99
(429 with Retry-After, which must come back fast), and goodput (OK answers per second) as a share of capacity.
Queries miss the query-vector cache (`query_cache_size=0`): every admitted request encodes its query, as
distinct queries would. While the 5x level runs, a probe checks that refusals carry Retry-After.

Targets (issue 15): at 5x, admitted p99 <= 3x the half-capacity p99, refusal p99 < 5 ms, goodput >= 90 % of
capacity. The quick version (CI, tiny bundle, a few seconds a level) asserts only the mechanism: refusals
come with Retry-After, and the admitted p99 stays bounded (loosely: within 10x the half-capacity p99 + 50 ms).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.child_server import bundle_root, served
from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.engine import run as run_open_loop
from load_tests.generator.http1 import Target
from load_tests.generator.mix import build_mix
from load_tests.generator.queries import builtin_queries

NAME = "overload"
LEVELS = (2, 5, 10)
QUICK_RAMP = (25, 50, 100, 200)
# Quick runs share two cores with the generator: past about this rate they would measure the generator.
QUICK_MAX_RATE = 1000.0
FULL_RAMP = (20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 400, 500)
SERVER_ENV = {"TWINRANK_QUERY_CACHE_SIZE": "0"}


def _level(target: Target, requests, rate: float, seconds: float, label: str) -> dict:
    config = OpenLoopConfig(rate=rate, duration=seconds, timeout=2.0, progress=False, max_conns=800)
    return run_open_loop(target, requests, config, label=label)


def _ok_share(run: dict) -> float:
    return run["ok"] / max(run["scheduled"], 1)


def measure_capacity(target: Target, requests, ramp: tuple[int, ...], seconds: float) -> tuple[float, list[dict]]:
    """The highest ramp rate with at most 3 % of requests refused or failed, in one of two tries (the last rate
    before it broke)."""
    capacity, steps = 0.0, []
    for rate in ramp:
        for _attempt in range(2):  # a stall of the shared machine costs a step a retry, not the capacity
            run = _level(target, requests, rate, seconds, f"ramp {rate}")
            steps.append({"rate": rate, "ok_share": round(_ok_share(run), 4),
                          "p99_ms": run["latency_ms"].get("p99_ms"), "errors": run["errors"]})
            if _ok_share(run) >= 0.97:
                break
        else:
            break
        capacity = float(rate)
    return capacity, steps


def probe_retry_after(url: str, stop: threading.Event, seen: dict) -> None:
    """POST /rank now and then while the server is overloaded; count 429s and those with Retry-After."""
    body = b'{"query": "laufschuhe damen"}'
    headers = {"content-type": "application/json", "X-Request-Timeout-Ms": "2"}  # refused behind any queue
    while not stop.is_set():
        req = urllib.request.Request(url + "/rank", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5):
                seen["ok"] = seen.get("ok", 0) + 1
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                seen["429"] = seen.get("429", 0) + 1
                seen["429_retry_after"] = seen.get("429_retry_after", 0) + bool(exc.headers.get("Retry-After"))
        except OSError:
            seen["error"] = seen.get("error", 0) + 1
        time.sleep(0.05)


def level_figures(run: dict, capacity: float, p99_half: float) -> dict:
    refusal = run.get("error_latency_ms", {}).get("http_429", {})
    p99 = run["latency_ms"].get("p99_ms")
    return {"offered_rps": run["offered_rps"], "goodput_rps": run["achieved_rps"],
            "goodput_share": round(run["achieved_rps"] / capacity, 3) if capacity else None,
            "admitted_p50_ms": run["latency_ms"].get("p50_ms"), "admitted_p99_ms": p99,
            "p99_vs_half": round(p99 / p99_half, 2) if p99 and p99_half else None,
            "refused": run["errors"].get("http_429", 0), "refusal_p50_ms": refusal.get("p50_ms"),
            "refusal_p99_ms": refusal.get("p99_ms"),
            "other_errors": {k: v for k, v in run["errors"].items() if k != "http_429"},
            "send_lag_p99_ms": run["send_lag_ms"].get("p99_ms"), "generator_core_share": run["generator_core_share"]}


def plot(levels: dict[str, dict], p99_half: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [int(k.rstrip("x")) for k in levels]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ks, [v["admitted_p99_ms"] for v in levels.values()], "o-", label="admitted p99")
    ax1.plot(ks, [v["refusal_p99_ms"] or 0 for v in levels.values()], "s-", label="refusal (429) p99")
    ax1.axhline(p99_half, color="grey", ls=":", label="p99 at half capacity")
    ax1.axhline(3 * p99_half, color="red", ls="--", label="3x that (target)")
    ax1.set(xlabel="offered load (x capacity)", ylabel="ms", title="latency under overload")
    ax1.legend(fontsize=8)
    ax2.bar([str(k) for k in ks], [v["goodput_share"] or 0 for v in levels.values()])
    ax2.axhline(0.9, color="red", ls="--", label="90 % (target)")
    ax2.set(xlabel="offered load (x capacity)", ylabel="goodput / capacity", title="goodput", ylim=(0, 1.2))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: CaseContext) -> CaseResult:
    t0 = time.monotonic()
    seconds = 2.0 if ctx.quick else 15.0
    root = bundle_root(ctx.workdir, ctx.quick)
    requests = build_mix(builtin_queries(2000, seed=ctx.seed), n_bodies=2000, seed=ctx.seed)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    with served(root, ctx.workdir / "overload-serve.log", SERVER_ENV) as server:
        target = Target.parse(server.url)
        _level(target, requests, 20, 1.0, "warm-up")
        capacity, ramp = measure_capacity(target, requests, QUICK_RAMP if ctx.quick else FULL_RAMP,
                                          2.0 if ctx.quick else 5.0)
        if capacity <= 0:
            return CaseResult(name=NAME, passed=False, summary=f"no ramp rate was served cleanly: {ramp}",
                              figures={"ramp": ramp}, seconds=round(time.monotonic() - t0, 1))
        half = _level(target, requests, capacity / 2, seconds, "half capacity")
        p99_half = half["latency_ms"]["p99_ms"]
        levels: dict[str, dict] = {}
        probe: dict = {}
        for k in LEVELS:
            stop = threading.Event()
            prober = threading.Thread(target=probe_retry_after, args=(server.url, stop, probe), daemon=True)
            if k == 5:
                prober.start()
            try:
                rate = min(k * capacity, QUICK_MAX_RATE) if ctx.quick else k * capacity
                levels[f"{k}x"] = level_figures(_level(target, requests, rate, seconds, f"{k}x"), capacity, p99_half)
            finally:
                stop.set()
                if prober.is_alive():
                    prober.join(10)
    plot(levels, p99_half, ctx.out_dir / "overload.png")
    five = levels["5x"]
    refusals = sum(v["refused"] for v in levels.values())
    retry_after_ok = probe.get("429", 0) > 0 and probe.get("429_retry_after", 0) == probe.get("429", 0)
    if ctx.quick:  # the mechanism only: on a shared CI machine the generator's own stalls make tails noise
        bound = max(10 * p99_half + 50, 1000.0)
        ok = ((refusals > 0 or probe.get("429", 0) > 0) and retry_after_ok and not five["other_errors"]
              and (five["admitted_p99_ms"] or 0) <= bound)
        verdict = (f"quick: refusals {refusals}, probe {probe}, at 5x no timeouts and admitted p99 within "
                   f"{bound:.0f} ms")
    else:
        ok = (retry_after_ok and (five["p99_vs_half"] or 99) <= 3 and (five["refusal_p99_ms"] or 99) < 5
              and (five["goodput_share"] or 0) >= 0.9)
        verdict = "targets at 5x: admitted p99 <= 3x half-capacity p99, refusal p99 < 5 ms, goodput >= 90 %"
    summary = (f"capacity {capacity:g} req/s, half-capacity p99 {p99_half:.1f} ms; at 5x: admitted p99 "
               f"{five['admitted_p99_ms']} ms ({five['p99_vs_half']}x), refusal p99 {five['refusal_p99_ms']} ms, "
               f"goodput {five['goodput_share']} of capacity; {verdict}")
    details = [f"{k}: {v}" for k, v in levels.items()] + [f"ramp: {ramp}", f"Retry-After probe at 5x: {probe}"]
    return CaseResult(name=NAME, passed=ok, summary=summary,
                      figures={"capacity_rps": capacity, "p99_half_capacity_ms": p99_half, "levels": levels,
                               "ramp": ramp, "retry_after_probe": probe, "seconds_per_level": seconds},
                      plots=["overload.png"], details=details, seconds=round(time.monotonic() - t0, 1))
