"""LoopLagProbe on a real event loop: a callback that blocks the loop shows as a lag sample of about its length,
samples go to the observer and the histogram, and stop ends them."""

from __future__ import annotations

import asyncio
import time

from service.api.loop_lag import LoopLagProbe


class Recorder:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.observed: list[float] = []

    def observe_loop_lag(self, lag_s: float) -> None:
        self.lags.append(lag_s)

    def observe(self, seconds: float) -> None:
        self.observed.append(seconds)


def test_a_blocked_loop_shows_as_lag_and_stop_ends_the_samples() -> None:
    rec = Recorder()

    async def main() -> None:
        probe = LoopLagProbe(rec, rec, interval_s=0.005)
        probe.start()
        await asyncio.sleep(0.05)
        quiet = len(rec.lags)
        time.sleep(0.06)  # blocks the loop: the next timer runs about 55 ms late
        await asyncio.sleep(0.02)
        probe.stop()
        n = len(rec.lags)
        await asyncio.sleep(0.03)
        assert len(rec.lags) == n
        assert quiet >= 3 and max(rec.lags[:quiet]) < 0.03
        assert max(rec.lags) >= 0.045

    asyncio.run(main())
    assert rec.lags == rec.observed and min(rec.lags) >= 0
