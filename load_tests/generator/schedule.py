"""Arrival schedules: when each request of an open-loop run is due, as offsets in seconds from the start."""

from __future__ import annotations

from typing import Literal

import numpy as np

Arrivals = Literal["constant", "poisson"]


def arrival_times(rate: float, duration: float, arrivals: Arrivals = "constant", seed: int = 0) -> np.ndarray:
    """Offsets (s) of the requests due in [0, duration) at `rate` per second.

    `constant`: evenly spaced, 1/rate apart. `poisson`: exponential gaps with mean 1/rate (seeded),
    so bursts happen as they do with independent users.
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests/s, got {rate}")
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if arrivals == "constant":
        n = int(np.floor(rate * duration + 1e-9))
        return np.arange(n, dtype=np.float64) / rate
    if arrivals == "poisson":
        rng = np.random.default_rng(seed)
        # Draw a little more than expected, then cut at `duration`.
        n = int(rate * duration + 6 * np.sqrt(rate * duration) + 16)
        times = np.cumsum(rng.exponential(1.0 / rate, size=n))
        times = np.concatenate([[0.0], times[:-1]])
        while times[-1] < duration:  # pragma: no cover - astronomically unlikely
            more = times[-1] + np.cumsum(rng.exponential(1.0 / rate, size=n))
            times = np.concatenate([times, more])
        return times[times < duration]
    raise ValueError(f"arrivals must be 'constant' or 'poisson', got {arrivals!r}")
