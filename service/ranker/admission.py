"""Admission bounded by time as well as count: at most `concurrency` requests run, the others wait in a FIFO
queue, and a request that would wait longer than its budget is refused at once instead of queueing.

Why not a count alone: with 64 admitted requests sharing two cores each one's latency is 64 service times,
whatever the count says (issue 15: p99 904 ms at 6x capacity). Two queues are bounded here, in time:

- the queue before admission: a request's bytes wait for the event loop (socket buffers, ready callbacks) before
  it reaches the gate, and on two cores that is where an overloaded server's queue forms (a cached query runs
  start to finish without yielding, so the count inside the gate stays low). Its *sojourn*, from the moment the
  server read the request (`received_at`) to the gate, is measured, and CoDel's rule decides: while sojourns
  stay above `target_s` for a whole `interval_s` the queue is standing, not a burst, and every request that
  queued longer than `target_s` is refused until one gets through faster (the adaptive timeout of Facebook's
  CoDel variant, "Fail at Scale", 2015). Shedding what waited too long keeps the loop's backlog near the target;
  a stall's backlog that drains within the interval is served.
- the queue at the gate: a newcomer's wait is predicted from the measured service time and the depth ahead of
  it (Little's law: with `limit` slots and `k` waiters ahead, a slot frees for it after about
  (k + 1) * service / limit); over the budget, it is refused before anything is spent on it. A waiter let in is
  served even when the prediction proves a few ms short; only `WAIT_LIMIT_BUDGETS` budgets (a stall) or the
  client's deadline refuse it in the queue.

`early_refusal` makes the same immediate decisions for a request whose headers were just read, with the event
loop's measured lag (`observe_loop_lag`) as the sojourn it is about to have: the serve protocol answers those
before an ASGI task exists (`service.api.admission.EarlyRefusal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

_EWMA_ALPHA = 0.1  # about the last 10 completions: quick enough to follow a bundle swap, smooth over cache hits
_INITIAL_SERVICE_S = 0.005  # until the first completion
# A waiter is refused once it has waited this many budgets (a stall), unless the client's deadline comes first.
WAIT_LIMIT_BUDGETS = 3.0


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused (a metrics label) and the message it is told."""

    reason: str
    message: str


class Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class AdmissionQueue:
    """Single event loop only (no locks): `acquire` and `release` run on the loop that serves HTTP."""

    def __init__(self, concurrency: int, queue_budget_s: float, max_inflight: int, target_s: float = 0.005,
                 interval_s: float = 0.1) -> None:
        self.limit = concurrency
        self.normal_budget_s = queue_budget_s
        self.target_s = min(target_s, queue_budget_s)
        self.interval_s = interval_s
        self.max_inflight = max_inflight
        self.running = 0
        self.service_s = _INITIAL_SERVICE_S
        self.overloaded = False  # CoDel's dropping state: the budget is `target_s`
        self.loop_lag_s = 0.0  # the latest event-loop lag sample (`observe_loop_lag`)
        self._above_since: float | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def budget_s(self) -> float:
        return self.target_s if self.overloaded else self.normal_budget_s

    def observe_sojourn(self, sojourn_s: float, now: float) -> None:
        """CoDel's state change: overloaded once sojourns stayed above target for an interval, back to normal at
        the first one below it."""
        if sojourn_s < self.target_s:
            self._above_since = None
            self.overloaded = False
        elif self._above_since is None:
            self._above_since = now
        elif now - self._above_since >= self.interval_s:
            self.overloaded = True

    @property
    def slot_free(self) -> bool:
        """A slot is free and nobody waits for one: a request arriving now takes it at once."""
        return self.running < self.limit and not self._waiters

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def predicted_wait_s(self) -> float:
        """How long a request arriving now would wait for a slot."""
        if self.slot_free:
            return 0.0
        return (len(self._waiters) + 1) * self.service_s / self.limit

    def wait_budget_s(self, deadline_s: float | None) -> float:
        """The longest a request may wait: the configured budget, lowered by the client's own deadline (minus
        the time it will then take to serve it)."""
        if deadline_s is None:
            return self.budget_s
        return max(0.0, min(self.budget_s, deadline_s - self.service_s))

    def wait_limit_s(self, deadline_s: float | None) -> float:
        """How long a request let into the queue may wait before it is refused after all. Its predicted wait was
        within its budget; refusing it as soon as the prediction proves a few ms short would throw away the wait
        it already paid (at 5x capacity such late refusals were a tenth of all refusals, each one as slow as
        the budget: the refusals' p99). So only the client's own deadline, or `WAIT_LIMIT_BUDGETS` budgets (a
        stall, not a wrong guess), refuses it."""
        limit = WAIT_LIMIT_BUDGETS * self.normal_budget_s
        if deadline_s is None:
            return limit
        return max(0.0, min(limit, deadline_s - self.service_s))

    def immediate_refusal(self, sojourn_s: float, deadline_s: float | None = None) -> Refusal | None:
        """The refusal due at once for a request that has queued `sojourn_s` before admission, or None: the count
        is full, it is past the client's deadline, it queued past the budget in a standing queue, or its
        predicted wait for a slot would take it over its budget."""
        inflight = self.running + len(self._waiters)
        if inflight >= self.max_inflight:
            return Refusal("inflight", f"server busy: {inflight} requests in flight "
                                       f"(max_inflight={self.max_inflight}); retry later")
        # A long sojourn alone refuses only past the client's own deadline (it has given up by then) or in a
        # standing queue (CoDel: a stall's backlog that drains within an interval is served, not dropped).
        if deadline_s is not None and sojourn_s > max(0.0, deadline_s - self.service_s):
            return Refusal("deadline", f"server busy: {sojourn_s * 1000:.0f} ms queued before admission, "
                                       f"past the request's {deadline_s * 1000:.0f} ms timeout")
        if self.overloaded and sojourn_s > self.budget_s:
            return Refusal("queue_time", f"server busy: {sojourn_s * 1000:.0f} ms queued before admission, "
                                         f"over the {self.budget_s * 1000:.0f} ms budget; retry later")
        if self.slot_free:
            return None
        budget = self.wait_budget_s(deadline_s)
        predicted = self.predicted_wait_s()
        # What it queued already counts against a client's deadline and in a standing queue; otherwise only the
        # wait ahead of it does: a stall's backlog is served, as above (three clients on a loop that lagged
        # 11 ms once were refused when the stall counted too).
        paid = sojourn_s if self.overloaded or budget < self.budget_s else 0.0
        if paid + predicted > budget:
            return Refusal("deadline" if budget < self.budget_s else "queue_time",
                           f"server busy: a {(paid + predicted) * 1000:.0f} ms wait predicted, over the "
                           f"{budget * 1000:.0f} ms budget; retry later")
        return None

    def early_refusal(self, deadline_s: float | None = None, received_at: float | None = None) -> Refusal | None:
        """`immediate_refusal` for a request whose headers were just read (at `received_at`, perf_counter), before
        anything is spent on it: its sojourn is what it has queued so far plus the event loop's current lag
        (`observe_loop_lag`), which it is about to wait out before its gate would run."""
        now = time.perf_counter()
        so_far = now - min(now, received_at) if received_at is not None else 0.0
        return self.immediate_refusal(so_far + self.loop_lag_s, deadline_s)

    def observe_loop_lag(self, lag_s: float) -> None:
        """How late the event loop ran a timer: the sojourn a request read now will have before its gate runs.
        Not a CoDel sample: a request's sojourn is also its wait at the gate, which the loop's lag does not see
        (fed to CoDel, the mostly short lags ended its dropping state while the gate's queue stood). CoDel cannot
        stall on it either: once the lag is under the target, requests reach the gate and its samples again."""
        self.loop_lag_s = lag_s

    async def acquire(self, deadline_s: float | None = None, received_at: float | None = None) -> float:
        """Take a slot, waiting at most the request's budget; returns the seconds it waited since `received_at`
        (`time.perf_counter()` when the server read it; None: now). Raises `Refused` at once when
        `immediate_refusal` says so, or when its wait limit (`wait_limit_s`) runs out in the queue."""
        now = time.perf_counter()
        t0 = min(now, received_at) if received_at is not None else now
        sojourn = now - t0
        self.observe_sojourn(sojourn, now)
        refusal = self.immediate_refusal(sojourn, deadline_s)
        if refusal is not None:
            raise Refused(refusal)
        if self.slot_free:
            self.running += 1
            return sojourn
        limit = self.wait_limit_s(deadline_s)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(0.0, limit - sojourn)):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # the slot came as the limit ran out: pass it on
                self.release_slot()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            raise Refused(Refusal("waited", f"server busy: waited {limit * 1000:.0f} ms for a slot, the longest a "
                                            f"request may; retry later")) from None
        except BaseException:  # cancelled (client gone, shutdown): give back a slot handed over meanwhile
            if waiter.done() and not waiter.cancelled():
                self.release_slot()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            raise
        now = time.perf_counter()
        self.observe_sojourn(now - t0, now)
        return now - t0

    def release(self, service_s: float) -> None:
        """A request that held a slot for `service_s` seconds is done."""
        self.service_s += _EWMA_ALPHA * (service_s - self.service_s)
        self.release_slot()

    def release_slot(self) -> None:
        """Hand the slot to the first live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: `running` is unchanged
                return
        self.running -= 1
