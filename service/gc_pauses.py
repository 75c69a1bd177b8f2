"""Python's garbage-collector pauses as a histogram (`twinrank_gc_pause_seconds{generation}`).

A collection stops every thread that needs the GIL, so a long one shows up as a latency spike in whichever requests
were running; with this metric an on-call engineer can tell such a second from host noise or a swap. The recorder
hooks `gc.callbacks` (process-wide), so the app installs it for its lifetime and removes it at shutdown.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Histogram


class GcPauseRecorder:
    def __init__(self, histogram: Histogram) -> None:
        self._children = {g: histogram.labels(str(g)) for g in range(3)}  # labels() per pause would cost a lookup
        self._started: float | None = None

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self._children[info["generation"]].observe(time.perf_counter() - self._started)
            self._started = None

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
