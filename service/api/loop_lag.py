"""The event loop's lag: how late a timer set every `interval_s` runs. On a server whose one loop reads every
request, that lateness is the time a request just read waits before its own code runs, so it is what admission
compares with its budget before spending anything on a request (`AdmissionQueue.early_refusal`), and what an
on-call engineer looks at first when latency rises with no slow stage to blame
(`twinrank_event_loop_lag_seconds`). In the spirit of toobusy-js (Node.js: shed load once the loop lags).

The timer costs a few µs each time it runs (200 times a second at the default 5 ms). On an idle loop the
selector's millisecond timeout granularity shows as up to about 1 ms of lag.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class LagObserver(Protocol):
    def observe_loop_lag(self, lag_s: float) -> None: ...


class LoopLagProbe:
    """Started and stopped on the loop it measures; each sample goes to `observer` and to `histogram`
    (a prometheus Histogram, or anything with `observe(seconds)`)."""

    def __init__(self, observer: LagObserver, histogram, interval_s: float = 0.005) -> None:
        self.observer = observer
        self.histogram = histogram
        self.interval_s = interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        assert self._loop is not None
        # perf_counter, the admission queue's clock (uvloop's `loop.time()` is the iteration's cached start, in ms)
        self._due = time.perf_counter() + self.interval_s
        self._handle = self._loop.call_later(self.interval_s, self._fire)

    def _fire(self) -> None:
        lag = max(0.0, time.perf_counter() - self._due)
        self.observer.observe_loop_lag(lag)
        self.histogram.observe(lag)
        self._arm()
