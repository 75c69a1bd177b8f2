"""`twinrank ab`: interleaved runs against two or more servers that are up side by side.

On a shared machine the same code's latency drifts by more than most changes within an hour, so variants are
compared round by round: each round drives every arm once, in rotated order, at the same offered rate, and the
report counts in how many rounds each arm's p99 beat the first arm's (the baseline), beside the medians. When a
target exports `twinrank_thread_cpu_seconds_total` (the twinrank service does), its CPU per request is reported too.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from common.files import atomic_write, write_json
from load_tests.generator.http1 import Target
from load_tests.tools.loadtest import run_loadtest, wait_ready
from load_tests.tools.server_metrics import cpu_counters, served_requests
from load_tests.tools.spec import LoadTestSpec


@dataclass(frozen=True)
class Arm:
    name: str
    url: str

    @classmethod
    def parse(cls, spec: str) -> Arm:
        """`NAME=http://HOST:PORT`."""
        name, sep, url = spec.partition("=")
        if not sep or not name.strip() or not url:
            raise ValueError(f"--arm must look like NAME=http://HOST:PORT, got {spec!r}")
        Target.parse(url)  # raises ValueError naming a bad address
        return cls(name.strip(), url)


def _thread_cpu_s(url: str) -> float | None:
    try:
        threads = cpu_counters(url)["thread"]
    except OSError:  # no /metrics (e.g. another server): CPU is simply not reported
        return None
    return sum(threads.values()) if threads else None


def interleaved(arms: list[Arm], spec: LoadTestSpec, rounds: int) -> dict:
    """`rounds` × every arm at `spec.rates[0]`, the order rotated each round; `spec.url` is ignored."""
    if len(arms) < 2:
        raise ValueError("an A/B needs at least two --arm")
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("--arm names must differ")
    if spec.ready_timeout > 0:  # every arm up before the first CPU reading
        for arm in arms:
            wait_ready(Target.parse(arm.url, spec.path), spec.ready_path, spec.ready_timeout)
    rate = spec.rates[0]
    runs: list[dict] = []
    for r in range(rounds):
        shift = r % len(arms)
        for position, arm in enumerate(arms[shift:] + arms[:shift]):
            cpu0 = _thread_cpu_s(arm.url)
            doc = run_loadtest(replace(spec, url=arm.url), None)
            cpu1 = _thread_cpu_s(arm.url)
            run = doc["runs"][0]
            lat = run["latency_ms"]
            row = {"round": r + 1, "arm": arm.name, "position": position, "ok": run["ok"],
                   "errors": run["errors"], "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"],
                   "p99_9_ms": lat["p99_9_ms"], "max_ms": lat["max_ms"],
                   "send_lag_max_ms": run["send_lag_ms"]["max_ms"], "server_cpu_ms_per_request": None}
            if cpu0 is not None and cpu1 is not None:
                row["server_cpu_ms_per_request"] = round(
                    (cpu1 - cpu0) * 1000 / served_requests(run, rate, spec.warmup), 3)
            runs.append(row)
            if spec.progress:
                sys.stderr.write(f"round {r + 1}/{rounds} {arm.name}: p50 {row['p50_ms']:.2f} ms, "
                                 f"p99 {row['p99_ms']:.2f} ms\n")
    return {"rate": rate, "duration_s": spec.duration, "rounds": rounds, "arms": [a.name for a in arms],
            "baseline": arms[0].name, "runs": runs, "summary": summarize(runs, [a.name for a in arms])}


def summarize(runs: list[dict], names: list[str]) -> dict[str, dict]:
    """Per arm: medians, and in how many rounds its p99 was below / above the baseline's (the first name)."""
    p99 = {(row["round"], row["arm"]): row["p99_ms"] for row in runs}
    rounds = sorted({row["round"] for row in runs})
    out = {}
    for name in names:
        mine = [row for row in runs if row["arm"] == name]
        cpu = [row["server_cpu_ms_per_request"] for row in mine if row["server_cpu_ms_per_request"] is not None]
        paired = [(p99[(r, name)], p99[(r, names[0])]) for r in rounds if (r, name) in p99 and (r, names[0]) in p99]
        out[name] = {"median_p50_ms": statistics.median(row["p50_ms"] for row in mine),
                     "median_p99_ms": statistics.median(row["p99_ms"] for row in mine),
                     "median_server_cpu_ms_per_request": statistics.median(cpu) if cpu else None,
                     "rounds_p99_below_baseline": sum(a < b for a, b in paired),
                     "rounds_p99_above_baseline": sum(a > b for a, b in paired),
                     "errors": sum(sum(row["errors"].values()) for row in mine)}
    return out


def markdown(doc: dict) -> str:
    names, base = doc["arms"], doc["baseline"]
    lines = [f"# Interleaved A/B at {doc['rate']:g} req/s", "",
             f"{doc['rounds']} rounds × {len(names)} arms, {doc['duration_s']:g} s each, order rotated every round; "
             f"baseline: `{base}`.", "",
             "| arm | median p50 ms | median p99 ms | p99 below / above the baseline's (rounds) | "
             "median server CPU ms/request | errors |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        s = doc["summary"][name]
        cpu = s["median_server_cpu_ms_per_request"]
        vs = "—" if name == base else f"{s['rounds_p99_below_baseline']} / {s['rounds_p99_above_baseline']}"
        lines.append(f"| {name} | {s['median_p50_ms']:.2f} | {s['median_p99_ms']:.2f} | {vs} | "
                     f"{'n/a' if cpu is None else f'{cpu:.2f}'} | {s['errors']} |")
    lines += ["", "| round | arm | p50 ms | p99 ms | p99.9 ms | max ms | generator send lag max ms | "
              "server CPU ms/request |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in doc["runs"]:
        cpu = row["server_cpu_ms_per_request"]
        lines.append(f"| {row['round']} | {row['arm']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                     f"{row['p99_9_ms']:.2f} | {row['max_ms']:.2f} | {row['send_lag_max_ms']:.2f} | "
                     f"{'n/a' if cpu is None else f'{cpu:.2f}'} |")
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in doc["arms"]:
        mine = [row for row in doc["runs"] if row["arm"] == name]
        ax.plot([row["round"] for row in mine], [row["p99_ms"] for row in mine], marker="o", label=name)
    ax.set_xlabel("round")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_yscale("log")
    ax.set_title(f"p99 per round at {doc['rate']:g} req/s, arms interleaved")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_ab(out_dir: Path, doc: dict) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "ab.json", out_dir / "ab.md", out_dir / "ab_p99.png"]
    write_json(paths[0], doc)
    atomic_write(paths[1], markdown(doc).encode())
    plot(doc, paths[2])
    return paths
