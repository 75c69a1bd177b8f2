"""The settings of one open-loop run, declared once (standard library only, so a CLI can read the defaults
without loading the generator)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OpenLoopConfig:
    """One open-loop run: `rate` requests/s for `duration` seconds, whatever the server does."""

    rate: float
    duration: float
    timeout: float = 2.0  # seconds from the scheduled time
    max_conns: int = 512
    stage_sample: float = 1.0  # share of OK responses whose JSON is parsed for server stage timings
    progress: bool = True
    preopen: int = 16  # connections opened before the clock starts
