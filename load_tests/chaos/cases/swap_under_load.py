"""Bundle swaps under steady open-loop load at half capacity: an ad-only `index update`, a new-model publish and a
rollback, each run as the operator runs it (a child process) while `twinrank serve` watches CURRENT.

Per swap, from the load's timeline: failed requests from the command's start to a few seconds after the new
version is first seen in the responses, and p99 of the *swap's seconds* (from the command's exit, when CURRENT
has switched and the server starts loading, to `after_s` past the first response of the new version) against the
steady state before the command started. The publish itself (encoding ads, building the index: the writer's
CPU on the same machine) is reported apart, as `publish_p99_ratio`: a writer usually runs elsewhere.

Passes when no request failed and every swap's p99 ratio is ≤ 2. The full version serves a 3k-ad and a 1M-ad
bundle; `TWINRANK_CHAOS_SWAP_ADS` (comma-separated ad counts) picks others: the 1M-ad one costs three index builds
(on two busy cores 15 minutes each).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.serving import (
    SHIPPED_MODEL,
    BackgroundLoad,
    Serve,
    capacity_line,
    cli,
    measure_capacity,
    retagged_model,
    wait_for_version,
    write_catalog,
    write_upserts,
)
from load_tests.generator.timeline import Timeline, compare_to_baseline
from load_tests.tools.timeline_plot import plot_timeline

NAME = "swap_under_load"
MAX_P99_RATIO = 2.0
WRITER_TIMEOUT_S = 3600  # a 1M-ad index rebuild on two busy cores took 15 minutes


@dataclass(frozen=True)
class Plan:
    bundles: tuple[tuple[str, int], ...]  # (label, ads)
    rate: float | None  # None: half the measured capacity
    before_s: float  # steady seconds before each swap (its baseline)
    after_s: float  # seconds after the new version is first seen
    seen_timeout_s: float


QUICK = Plan(bundles=(("200 ads", 200),), rate=30.0, before_s=3.0, after_s=2.0, seen_timeout_s=30.0)
FULL = Plan(bundles=(("3k ads", 3000), ("1M ads", 1_000_000)), rate=None, before_s=15.0, after_s=5.0,
            seen_timeout_s=300.0)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _publish_big(root: Path, model: Path, vectors: Path | None) -> None:
    """The 1M-ad bundle (the benchmark's synthetic one) over `model`, in a child process. `vectors=None`: CURRENT's
    own vectors, so a new model over them reuses CURRENT's index and ad table (hard links): a new-model publish
    costs seconds, not an index build. Three versions are kept for the rollback."""
    import subprocess

    from load_tests.chaos.serving import REPO, child_env

    vec = (f"Path({str(vectors)!r})" if vectors is not None
           else f"current_version_dir(Path({str(root)!r})) / VECTORS_FILE")
    code = ("from pathlib import Path; from load_tests.bench.synthetic_bundle import build_synthetic_bundle; "
            "from service.bundle import VECTORS_FILE, current_version_dir; "
            f"build_synthetic_bundle(Path({str(root)!r}), Path({str(model)!r}), {vec}, keep=3)")
    subprocess.run(_python(code), env=child_env(), cwd=REPO, check=True, capture_output=True, timeout=WRITER_TIMEOUT_S)


def _swaps(root: Path, work: Path, n_ads: int, catalog: Path | None, vectors: Path | None, seed: int) -> list:
    """(name, action) of the three swaps; each action publishes (or rolls back) and returns when CURRENT switched."""
    new_model = retagged_model(SHIPPED_MODEL, work / "model-b", f"chaos{seed}")
    upserts = write_upserts(work / "upserts.jsonl", 20, seed)

    def update() -> None:
        cli("index", "update", "--bundles", str(root), "--upsert", str(upserts), "--threads", "1",
            timeout=WRITER_TIMEOUT_S)

    def new_model_publish() -> None:
        if vectors is not None:
            _publish_big(root, new_model, None)
        else:
            cli("index", "build", "--model", str(new_model), "--catalog", str(catalog), "--bundles", str(root),
                "--threads", "1", timeout=WRITER_TIMEOUT_S)

    def rollback() -> None:
        cli("bundle", "rollback", "--bundles", str(root))

    return [("ad-only update", update), ("new model", new_model_publish), ("rollback", rollback)]


def _build_root(work: Path, n_ads: int) -> tuple[Path, Path | None, Path | None]:
    """(bundle root with one version, its catalog for small bundles, its vectors file for the 1M one)."""
    root = work / "bundles"
    if n_ads >= 100_000:
        from load_tests.bench.retrieval import synthetic_vectors

        vectors, _ = synthetic_vectors(work, n_ads, 128)
        _publish_big(root, SHIPPED_MODEL, vectors)
        return root, None, vectors
    catalog = write_catalog(work / "catalog.parquet", n_ads)
    cli("index", "build", "--catalog", str(catalog), "--bundles", str(root), "--threads", "1",
        timeout=WRITER_TIMEOUT_S)
    return root, catalog, None


def _seen_after(timeline: Timeline, since: float) -> float | None:
    """Run time of the first version change seen after `since` (run time)."""
    seen = [timeline.rel(e.at) for e in timeline.events if e.source == "seen" and timeline.rel(e.at) >= since]
    return min(seen) if seen else None


def run_one(label: str, n_ads: int, plan: Plan, ctx: CaseContext, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    root, catalog, vectors = _build_root(work, n_ads)
    swaps = _swaps(root, work, n_ads, catalog, vectors, ctx.seed)
    with Serve(root, work / "serve.log") as server:
        capacity = None
        rate = plan.rate
        if rate is None:
            capacity = measure_capacity(server.url)
            rate = max(10.0, (capacity["capacity_rps"] or 20) / 2)
        budget = plan.before_s + len(swaps) * (plan.seen_timeout_s + 600 + plan.after_s + plan.before_s + 2)
        marks = []
        with BackgroundLoad(server.url, rate, budget) as load:
            tl = load.timeline
            load.wait_until(plan.before_s + 1)
            for name, action in swaps:
                old = tl.version
                t_start = tl.rel(tl.mark(f"{name}: start"))
                action()
                t_end = tl.rel(tl.mark(f"{name}: CURRENT switched"))
                new = wait_for_version(tl, old, plan.seen_timeout_s)
                t_seen = _seen_after(tl, t_start) if new else None
                marks.append((name, t_start, t_end, t_seen, old, new))
                load.wait_until((t_seen if t_seen is not None else load.elapsed()) + plan.after_s
                                + plan.before_s + 1.5)
            result = load.stop()
    rows = []
    for name, t_start, t_end, t_seen, old, new in marks:
        stop = (t_seen if t_seen is not None else t_end) + plan.after_s
        swap = compare_to_baseline(tl, t_end, stop, t_start - 0.5, plan.before_s)
        publish = compare_to_baseline(tl, t_start, t_end, t_start - 0.5, plan.before_s)
        failed = tl.window(t_start, stop)["errors"]
        rows.append({"swap": name, "from": old, "to": new, "seen": t_seen is not None,
                     "publish_s": round(t_end - t_start, 2),
                     "switch_to_seen_s": round(t_seen - t_end, 2) if t_seen is not None else None,
                     "failed": failed, "errors_by_kind": tl.window(t_start, stop)["errors_by_kind"],
                     "steady_p99_ms": swap["before"]["p99_ms"], "swap_p99_ms": swap["after"]["p99_ms"],
                     "p99_ratio": swap["p99_ratio"], "publish_p99_ms": publish["after"]["p99_ms"],
                     "publish_p99_ratio": publish["p99_ratio"]})
    plot = f"{NAME}_{label.replace(' ', '_')}.png"
    plot_timeline(result["timeline"], ctx.out_dir / plot,
                  f"Swaps under load: {label}, {rate:g} req/s (open loop)")
    (work / "timeline.json").write_text(json.dumps(result["timeline"]))
    return {"label": label, "n_ads": n_ads, "rate": rate, "capacity": capacity, "swaps": rows, "plot": plot,
            "run_errors": result["errors"], "run_p99_ms": result["latency_ms"]["p99_ms"], "ok": result["ok"]}


def full_plan() -> Plan:
    sizes = os.environ.get("TWINRANK_CHAOS_SWAP_ADS")
    if not sizes:
        return FULL
    counts = [int(n) for n in sizes.split(",") if n.strip()]
    return Plan(bundles=tuple((f"{n // 1000}k ads" if n < 1_000_000 else f"{n // 1_000_000}M ads", n)
                              for n in counts),
                rate=FULL.rate, before_s=FULL.before_s, after_s=FULL.after_s, seen_timeout_s=FULL.seen_timeout_s)


def run(ctx: CaseContext) -> CaseResult:
    plan = QUICK if ctx.quick else full_plan()
    t0 = time.monotonic()
    figures: dict = {}
    details: list[str] = []
    problems: list[str] = []
    runs = []
    for label, n in plan.bundles:  # one bundle's failure is reported without losing the other's figures
        try:
            runs.append(run_one(label, n, plan, ctx, ctx.workdir / label.replace(" ", "_")))
        except Exception as exc:
            problems.append(f"{label}: raised {type(exc).__name__}: {str(exc)[:200]}")
            details += [f"### {label}", "", f"raised {type(exc).__name__}: {str(exc)[:500]}", ""]
    for r in runs:
        worst = max((s["p99_ratio"] or float("inf") for s in r["swaps"]), default=None)
        failed = sum(s["failed"] for s in r["swaps"]) + 0
        total_errors = sum(r["run_errors"].values())
        key = r["label"].replace(" ", "_")
        figures[f"{key}_failed"] = total_errors
        figures[f"{key}_worst_p99_ratio"] = worst
        figures[f"{key}_rate_rps"] = r["rate"]
        if r["capacity"]:
            figures[f"{key}_capacity_rps"] = r["capacity"]["capacity_rps"]
        details += [f"### {r['label']} at {r['rate']:g} req/s", "", f"Rate: {capacity_line(r['capacity'], r['rate'])}.",
                    "",
                    "| swap | seen | publish s | switch → seen s | failed | steady p99 ms | swap p99 ms | ratio "
                    "| publish p99 ms | publish ratio |",
                    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for s in r["swaps"]:
            details.append(f"| {s['swap']} ({s['from']} → {s['to']}) | {'yes' if s['seen'] else '**no**'} | "
                           f"{s['publish_s']} | {s['switch_to_seen_s']} | {s['failed']} | {s['steady_p99_ms']} | "
                           f"{s['swap_p99_ms']} | {s['p99_ratio']} | {s['publish_p99_ms']} | "
                           f"{s['publish_p99_ratio']} |")
            if not s["seen"]:
                problems.append(f"{r['label']}: {s['swap']} never seen in the responses")
            elif s["p99_ratio"] is None or s["p99_ratio"] > MAX_P99_RATIO:
                problems.append(f"{r['label']}: {s['swap']} p99 ×{s['p99_ratio']}")
        details += ["", f"whole run: {r['ok']} ok, errors {r['run_errors'] or 'none'}, p99 {r['run_p99_ms']} ms", ""]
        if total_errors or failed:
            problems.append(f"{r['label']}: {total_errors} failed requests ({r['run_errors']})")
    passed = not problems
    summary = ("3 swaps per bundle (ad-only update, new model, rollback) under open-loop load: "
               + ("0 failed, p99 in each swap's seconds ≤ 2× steady" if passed else "; ".join(problems)))
    return CaseResult(name=NAME, passed=passed, summary=summary, figures=figures, plots=[r["plot"] for r in runs],
                      details=details, seconds=round(time.monotonic() - t0, 1))
