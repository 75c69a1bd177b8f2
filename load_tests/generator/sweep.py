"""Rate sweeps: run the open-loop test at increasing offered rates and find the highest that meets the SLO."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slo:
    """A run passes when its p99 is at most `p99_ms`, at most `max_error_rate` of its requests failed,
    and it completed at least `min_achieved` of the offered rate (a saturated server falls behind)."""

    p99_ms: float = 20.0
    max_error_rate: float = 0.001
    min_achieved: float = 0.95


def parse_rates(spec: str) -> list[float]:
    """`"50,100,200"` → [50.0, 100.0, 200.0], ascending; refuses empty, non-numeric or non-positive items."""
    try:
        rates = [float(x) for x in spec.split(",") if x.strip()]
    except ValueError as exc:
        raise ValueError(f"--sweep must be comma-separated numbers, got {spec!r}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise ValueError(f"--sweep needs positive rates, got {spec!r}")
    return sorted(set(rates))


def verdict(run: dict, slo: Slo) -> tuple[bool, str]:
    """(passed, reason) for one run summary as produced by `RunStats.summary`."""
    if run["ok"] == 0:
        return False, "no successful requests"
    p99 = run["latency_ms"]["p99_ms"]
    if p99 > slo.p99_ms:
        return False, f"p99 {p99:.2f} ms > {slo.p99_ms:g} ms"
    if run["error_rate"] > slo.max_error_rate:
        return False, f"error rate {run['error_rate']:.4f} > {slo.max_error_rate:g}"
    if run["achieved_rps"] < slo.min_achieved * run["offered_rps"]:
        return False, f"achieved {run['achieved_rps']:.1f} < {slo.min_achieved:.0%} of {run['offered_rps']:g} req/s"
    return True, "ok"


def max_passing_rate(runs: Sequence[dict], slo: Slo) -> float | None:
    """The highest offered rate that passed, counting only rates below the first failure (ascending order)."""
    best = None
    for run in sorted(runs, key=lambda r: r["offered_rps"]):
        ok, _ = verdict(run, slo)
        if not ok:
            break
        best = run["offered_rps"]
    return best


def sweep(rates: Sequence[float], run_at: Callable[[float], dict], slo: Slo, stop_on_fail: bool = True) -> dict:
    """Call `run_at(rate)` for each rate (ascending); stop after the first failure unless told not to."""
    runs = []
    for rate in sorted(rates):
        run = run_at(rate)
        ok, reason = verdict(run, slo)
        run["slo_pass"], run["slo_reason"] = ok, reason
        runs.append(run)
        if not ok and stop_on_fail:
            break
    return {
        "slo": {"p99_ms": slo.p99_ms, "max_error_rate": slo.max_error_rate, "min_achieved": slo.min_achieved},
        "rates": [r["offered_rps"] for r in runs],
        "runs": runs,
        "max_rps_meeting_slo": max_passing_rate(runs, slo),
    }
