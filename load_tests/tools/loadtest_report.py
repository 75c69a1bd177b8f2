"""Load-test outputs: a JSON file, a Markdown summary and PNG plots (percentiles vs rate, a histogram)."""

from __future__ import annotations

from pathlib import Path

from common.files import atomic_write, write_json
from load_tests.tools.timeline_plot import plot_timeline


def timeline_png(stem: str, run: dict, n_runs: int) -> str:
    return f"{stem}_timeline.png" if n_runs == 1 else f"{stem}_timeline_{run['offered_rps']:g}rps.png"


def event_lines(runs: list[dict]) -> list[str]:
    """The events of each run's timeline (marked or seen), for the Markdown report."""
    lines = []
    for r in runs:
        for ev in (r.get("timeline") or {}).get("events", []):
            lines.append(f"- {r['offered_rps']:g} req/s, t={ev['t']:.1f} s ({ev['source']}): {ev['label']}")
    return lines


def _lag_max(run: dict) -> str:
    lag = run.get("send_lag_ms", {}).get("max_ms")
    return "" if lag is None else f"{lag:.2f}"


def run_rows(runs: list[dict]) -> list[str]:
    """Markdown table rows, one per run. The generator's send lag (how late it sent, in its own process) shows
    stalls of the whole machine: a lag of tens of ms means the server was stalled at the same moment too."""
    rows = [
        "| offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | generator send lag max ms "
        "| errors | SLO |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in runs:
        lat = r["latency_ms"]
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        slo = r.get("slo_reason", "")
        rows.append(
            f"| {r['offered_rps']:g} | {r['achieved_rps']:g} | {lat['p50_ms']:.2f} | {lat['p90_ms']:.2f} | "
            f"{lat['p99_ms']:.2f} | {lat['p99_9_ms']:.2f} | {lat['max_ms']:.2f} | {_lag_max(r)} | {errs} | {slo} |"
        )
    return rows


def stage_rows(run: dict) -> list[str]:
    stages = run.get("server_stages_ms") or {}
    if not stages:
        return ["(the server's responses carried no per-stage timings)"]
    rows = ["| stage | p50 ms | p99 ms | mean ms |", "| --- | ---: | ---: | ---: |"]
    for name, s in stages.items():
        rows.append(f"| {name} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['mean_ms']:.3f} |")
    return rows


def markdown(doc: dict) -> str:
    runs = doc["runs"]
    lines = [f"# Load test: {doc['target']}", "", f"- command: `{doc.get('command', '')}`",
             f"- arrivals: {doc['arrivals']}, duration {doc['duration_s']:g} s per rate, "
             f"mix: {doc['mix']['ads_ratio']:.0%} with ads ({doc['mix']['ads_per_request']} per request), "
             f"queries: {doc['mix']['queries_source']}",
             f"- machine: {doc.get('machine', {}).get('summary', '')}", ""]
    if "max_rps_meeting_slo" in doc:
        slo = doc["slo"]
        best = doc["max_rps_meeting_slo"]
        lines += [f"**Highest offered rate meeting p99 ≤ {slo['p99_ms']:g} ms: {best} req/s**", ""]
    lines += run_rows(runs)
    last_ok = [r for r in runs if r.get("slo_pass", True)] or runs
    lines += ["", f"Server stages at {last_ok[-1]['offered_rps']:g} req/s (from the responses):", ""]
    lines += stage_rows(last_ok[-1])
    if events := event_lines(runs):
        lines += ["", "Events (vertical lines in the timeline plots):", "", *events]
    gen = runs[-1]
    lines += ["", f"Generator: {gen['generator_cpu_us_per_request']} µs CPU per request, "
              f"send lag p99 {gen['send_lag_ms']['p99_ms']:.2f} ms (counted in the latencies)."]
    return "\n".join(lines) + "\n"


def plot(doc: dict, out_dir: Path, stem: str = "loadtest") -> list[str]:
    """Percentiles against offered rate, and the latency histogram of the last run that met the SLO."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = doc["runs"]
    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    rates = [r["offered_rps"] for r in runs]
    for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p99_9_ms", "p99.9")):
        ax.plot(rates, [r["latency_ms"][key] for r in runs], marker="o", label=label)
    if "slo" in doc:
        ax.axhline(doc["slo"]["p99_ms"], color="grey", ls="--", label=f"SLO p99 {doc['slo']['p99_ms']:g} ms")
    ax.set_xlabel("offered rate (req/s, open loop)")
    ax.set_ylabel("latency from scheduled time (ms)")
    ax.set_yscale("log")
    ax.set_title("Latency vs offered rate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / f"{stem}_latency_vs_rate.png", dpi=110)
    plt.close(fig)
    written.append(f"{stem}_latency_vs_rate.png")

    for r in runs:
        if r.get("timeline"):
            name = timeline_png(stem, r, len(runs))
            plot_timeline(r["timeline"], out_dir / name, f"Latency over time at {r['offered_rps']:g} req/s")
            written.append(name)

    last_ok = [r for r in runs if r.get("slo_pass", True)] or runs
    hist = last_ok[-1]["histogram_ms"]
    if hist:
        fig, ax = plt.subplots(figsize=(6, 4))
        edges = [h[0] for h in hist]
        ax.bar(range(len(hist)), [h[1] for h in hist], width=1.0)
        ticks = list(range(0, len(hist), max(1, len(hist) // 6)))
        ax.set_xticks(ticks, [f"{edges[i]:.2g}" for i in ticks])
        ax.set_xlabel("latency (ms, log-spaced buckets; upper edge)")
        ax.set_ylabel("requests")
        ax.set_title(f"Latency histogram at {last_ok[-1]['offered_rps']:g} req/s")
        fig.tight_layout()
        fig.savefig(out_dir / f"{stem}_latency_hist.png", dpi=110)
        plt.close(fig)
        written.append(f"{stem}_latency_hist.png")
    return written


def write_loadtest_report(out_dir: Path, doc: dict, stem: str = "loadtest", plots: bool = True) -> list[Path]:
    """Write `<stem>.json`, `<stem>.md` and the plots into `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.json", out_dir / f"{stem}.md"]
    write_json(paths[0], doc)
    atomic_write(paths[1], markdown(doc).encode())
    if plots:
        paths += [out_dir / p for p in plot(doc, out_dir, stem)]
    return paths
