"""The benchmark's headline figures, the keys `perf.json` promises, and the targets they are held to."""

from __future__ import annotations


def median_run(e2e: dict) -> dict:
    """The fixed-rate run with the median p99 (the lower middle one for an even count)."""
    runs = sorted(e2e["fixed_rate"]["runs"], key=lambda r: r["latency_ms"]["p99_ms"])
    return runs[(len(runs) - 1) // 2]


def headline(sec: dict) -> dict:
    """The three required keys, plus the targets and whether they were met."""
    ts = sec.get("teacher_vs_student", {})
    e2e = sec.get("end_to_end", {})
    # CPU time of the same calls: on this shared machine wall time also counts waiting for a core.
    speedup = ts.get("speedup_cpu_p50", ts.get("speedup_p50"))
    p99 = median_run(e2e)["latency_ms"]["p99_ms"] if e2e.get("fixed_rate") else None
    max_rps = e2e.get("sweep", {}).get("max_rps_meeting_slo") if e2e else None
    variants = {}
    for name, v in sec.items():
        if name.startswith("end_to_end_"):
            variants[name] = {"server_env": v.get("server_env"),
                              "rank_p99_ms_at_200rps_1M_ads": median_run(v)["latency_ms"]["p99_ms"],
                              "max_rps_at_p99_20ms": v.get("sweep", {}).get("max_rps_meeting_slo")}
    return {
        "e2e_variants": variants,
        "student_vs_teacher_speedup_100_ads": speedup,
        "rank_p99_ms_at_200rps_1M_ads": p99,
        "rank_p99_ms_at_200rps_1M_ads_each_run": [r["latency_ms"]["p99_ms"] for r in e2e["fixed_rate"]["runs"]]
        if e2e.get("fixed_rate") else None,
        "max_rps_at_p99_20ms": max_rps,
        "targets": {
            "student_vs_teacher_speedup_100_ads": {"target": ">= 100",
                                                   "met": None if speedup is None else speedup >= 100},
            "rank_p99_ms_at_200rps_1M_ads": {"target": "<= 10", "met": None if p99 is None else p99 <= 10},
        },
    }
