"""What a twinrank service says about its own CPU over HTTP (`GET /metrics`), read the same way by
`twinrank ab` and the benchmark; the count of requests a run's CPU is divided by."""

from __future__ import annotations


def metrics_text(url: str) -> str:
    """A service's `GET /metrics` page."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        return r.read().decode(errors="replace")


def cpu_counters(url: str) -> dict[str, dict[str, float]]:
    """A twinrank service's CPU seconds from its /metrics: by thread role (`twinrank_thread_cpu_seconds_total`) and
    by /rank stage (`twinrank_stage_cpu_seconds_total`). Empty dicts for a server that exports neither."""
    import re

    text = metrics_text(url)

    def family(name: str, label: str) -> dict[str, float]:
        pattern = rf'^twinrank_{name}_cpu_seconds_total\{{{label}="(\w+)"\}} (\S+)$'
        return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.MULTILINE)}

    return {"thread": family("thread", "role"), "stage": family("stage", "stage")}


def query_cache_counts(url: str) -> dict[str, float]:
    """The service's query-cache lookups so far (`twinrank_query_cache_total`): {"hit": n, "miss": n}."""
    import re

    text = metrics_text(url)
    pattern = r'^twinrank_query_cache_total\{result="(\w+)"\} (\S+)$'
    return {"hit": 0.0, "miss": 0.0, **{m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.M)}}


def served_requests(run: dict, rate: float, warmup_s: float) -> int:
    """Requests the server handled over a run, its warm-up included (the CPU counters include it too)."""
    return max(run["sent"] + round(rate * warmup_s), 1)
