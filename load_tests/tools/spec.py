"""What a load test or an A/B runs, declared once: `twinrank loadtest` and `twinrank ab` take their option
defaults from here (standard library only, so the CLI can read them without loading the generator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from load_tests.generator.config import OpenLoopConfig
from load_tests.generator.sweep import Slo

LOADTEST_OUT = Path("reports/loadtest")


@dataclass
class LoadTestSpec:
    """What `twinrank loadtest` runs; the command's option defaults are these field defaults."""

    url: str = "http://127.0.0.1:8000"
    rates: list[float] = field(default_factory=lambda: [200.0])
    duration: float = 30.0
    arrivals: str = "constant"
    path: str = "/rank"
    queries: str | None = None
    # "distinct": each distinct query of the file, drawn at random; "rows": every row's query in a seeded shuffle
    # (the file's query frequencies: head queries repeat, as in real traffic, and a query cache gets its hits)
    query_stream: str = "distinct"
    ads_ratio: float = 0.0
    ads_per_request: int = 10
    ads_table: str | None = None
    top_k: int = 10
    defect_weight: float = 0.5
    timeout: float = OpenLoopConfig.timeout
    max_conns: int = OpenLoopConfig.max_conns
    warmup: float = 3.0
    ready_timeout: float = 60.0
    ready_path: str = "/readyz"
    slo: Slo = field(default_factory=Slo)
    seed: int = 0
    progress: bool = True
    extra: dict | None = None
    event_file: str | None = None  # lines `UNIX_SECONDS LABEL`, marked on the timeline after each run


# `twinrank ab`: shorter runs than a load test, many of them, and servers that may still be loading a bundle.
AB_SPEC = LoadTestSpec(duration=20.0, warmup=2.0, ready_timeout=300.0)
AB_ROUNDS = 6
AB_OUT = Path("reports/ab")
