"""A soak: steady open-loop load at half capacity for 30 minutes (quick: 15 s) against `twinrank serve`, with the
server process's RSS and open file descriptors sampled every few seconds.

Growth is judged by a least-squares line through the samples after a warm-up (the first fifth of the run, while
the query cache and the allocator fill up), projected over that window. Passes when no request failed, the
projected RSS growth is ≤ max(16 MiB, 5 % of the RSS at the window's start) and the projected fd growth ≤ 8.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.serving import (
    BackgroundLoad,
    Serve,
    capacity_line,
    cli,
    measure_capacity,
    open_loop,
    write_catalog,
)
from load_tests.tools.timeline_plot import plot_timeline

NAME = "soak"
RSS_BOUND_MIB, RSS_BOUND_SHARE, FD_BOUND = 16.0, 0.05, 8
WARMUP_SHARE = 0.2


@dataclass(frozen=True)
class Plan:
    n_ads: int
    rate: float | None  # None: half the measured capacity
    duration_s: float
    sample_s: float


QUICK = Plan(n_ads=200, rate=30.0, duration_s=15.0, sample_s=0.5)
FULL = Plan(n_ads=3000, rate=None, duration_s=1800.0, sample_s=5.0)


def sample_process(pid: int, every_s: float, stop: threading.Event, t0: float, out: list[tuple[float, int, int]]):
    """Append (seconds since t0, RSS bytes, open fds) of `pid` every `every_s` until `stop`."""
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            out.append((time.monotonic() - t0, proc.memory_info().rss, proc.num_fds()))
        except psutil.Error:
            return
        stop.wait(every_s)


def growth(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope per second, slope × the span of t): a line fitted through the samples."""
    if len(t) < 3 or t[-1] - t[0] <= 0:
        return 0.0, 0.0
    slope = float(np.polyfit(t, y, 1)[0])
    return slope, slope * float(t[-1] - t[0])


def plot_resources(samples: list[tuple[float, int, int]], warmup_s: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in samples]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(t, [s[1] / 2**20 for s in samples], color="tab:blue", label="RSS (MiB)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_xlabel("seconds since the load started")
    ax.axvspan(0, warmup_s, color="grey", alpha=0.15, label="warm-up (not judged)")
    fds = ax.twinx()
    fds.plot(t, [s[2] for s in samples], color="tab:orange", label="open fds")
    fds.set_ylabel("open fds")
    ax.set_title(title)
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: CaseContext) -> CaseResult:
    plan = QUICK if ctx.quick else FULL
    t_case = time.monotonic()
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    root = ctx.workdir / "bundles"
    catalog = write_catalog(ctx.workdir / "catalog.parquet", plan.n_ads)
    cli("index", "build", "--catalog", str(catalog), "--bundles", str(root), "--threads", "1")
    samples: list[tuple[float, int, int]] = []
    with Serve(root, ctx.workdir / "serve.log") as server:
        capacity = None
        rate = plan.rate
        if rate is None:
            capacity = measure_capacity(server.url)
            rate = max(10.0, (capacity["capacity_rps"] or 20) / 2)
        open_loop(server.url, rate, 3.0)  # warm the server's caches and threads before the clock starts
        stop = threading.Event()
        with BackgroundLoad(server.url, rate, plan.duration_s) as load:
            sampler = threading.Thread(target=sample_process, daemon=True,
                                       args=(server.proc.pid, plan.sample_s, stop, load.timeline.t0, samples))
            sampler.start()
            result = load.join()
            stop.set()
            sampler.join()
    warmup_s = plan.duration_s * WARMUP_SHARE
    judged = np.array([s for s in samples if s[0] >= warmup_s], dtype=np.float64)
    if len(judged) < 3:
        return CaseResult(name=NAME, passed=False, summary=f"only {len(judged)} resource samples after warm-up",
                          seconds=round(time.monotonic() - t_case, 1))
    t, rss, fds = judged[:, 0], judged[:, 1], judged[:, 2]
    rss_slope, rss_growth = growth(t, rss)
    fd_slope, fd_growth = growth(t, fds)
    rss_bound = max(RSS_BOUND_MIB * 2**20, RSS_BOUND_SHARE * rss[0])
    errors = sum(result["errors"].values())
    problems = []
    if errors:
        problems.append(f"{errors} failed requests {result['errors']}")
    if rss_growth > rss_bound:
        problems.append(f"RSS grew {rss_growth / 2**20:.1f} MiB (bound {rss_bound / 2**20:.1f})")
    if fd_growth > FD_BOUND:
        problems.append(f"open fds grew {fd_growth:.1f} (bound {FD_BOUND})")
    minutes = plan.duration_s / 60
    plots = [f"{NAME}_resources.png", f"{NAME}_timeline.png"]
    plot_resources(samples, warmup_s, ctx.out_dir / plots[0],
                   f"Soak: server RSS and open fds, {minutes:g} min at {rate:g} req/s")
    plot_timeline(result["timeline"], ctx.out_dir / plots[1], f"Soak: latency over time at {rate:g} req/s")
    figures = {
        "errors": errors, "rss_growth_mib": round(rss_growth / 2**20, 2), "fd_growth": round(fd_growth, 2),
        "p99_ms": result["latency_ms"]["p99_ms"], "rate_rps": rate, "duration_s": plan.duration_s,
        "rss_start_mib": round(rss[0] / 2**20, 1), "rss_end_mib": round(rss[-1] / 2**20, 1),
        "rss_slope_mib_per_h": round(rss_slope * 3600 / 2**20, 2), "fds_start": int(fds[0]), "fds_end": int(fds[-1]),
        "rss_bound_mib": round(rss_bound / 2**20, 1), "fd_bound": FD_BOUND, "samples": len(samples),
        "ok": result["ok"], "errors_by_kind": result["errors"],
    }
    if capacity:
        figures["capacity_rps"] = capacity["capacity_rps"]
    seconds = result["timeline"]["seconds"]
    worst = max(seconds, key=lambda r: r["p99_ms"]) if seconds else None
    details = [f"- {plan.n_ads}-ad bundle of the shipped student, {rate:g} req/s open loop for {plan.duration_s:g} s"
               + f" ({capacity_line(capacity, rate)})",
               f"- resources sampled every {plan.sample_s:g} s; judged after {warmup_s:g} s of warm-up by a fitted "
               f"line: RSS {figures['rss_slope_mib_per_h']} MiB/h, fds {fd_slope * 3600:.2f}/h",
               f"- whole run: {result['ok']} ok, errors {result['errors'] or 'none'}, p50 "
               f"{result['latency_ms']['p50_ms']} ms, p99 {result['latency_ms']['p99_ms']} ms"
               + (f"; worst second p99 {worst['p99_ms']} ms at t={worst['t']} s" if worst else "")]
    passed = not problems
    summary = (f"{minutes:g} min at {rate:g} req/s: " + (
        f"no errors, RSS {figures['rss_growth_mib']:+} MiB, fds {figures['fd_growth']:+} (within bounds)"
        if passed else "; ".join(problems)))
    return CaseResult(name=NAME, passed=passed, summary=summary, figures=figures, plots=plots, details=details,
                      seconds=round(time.monotonic() - t_case, 1))
