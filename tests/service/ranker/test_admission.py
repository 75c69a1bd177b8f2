"""AdmissionQueue on a real event loop: slots, the FIFO queue, refusals by count, predicted wait, deadline and
sojourn, and CoDel's switch to the short budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.ranker.admission import WAIT_LIMIT_BUDGETS, AdmissionQueue, Refused


def run(coro):
    return asyncio.run(coro)


def test_free_slots_admit_at_once_and_the_count_is_a_hard_bound() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=2, queue_budget_s=1.0, max_inflight=2)
        assert await q.acquire() == 0.0 and await q.acquire() == 0.0
        with pytest.raises(Refused) as exc:
            await q.acquire()
        assert exc.value.refusal.reason == "inflight" and "max_inflight=2" in exc.value.refusal.message
        q.release(0.01)
        assert q.running == 1 and await q.acquire() == 0.0

    run(main())


def test_a_waiter_gets_the_released_slot_in_order() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=5.0, max_inflight=10)
        await q.acquire()
        order: list[int] = []

        async def wait(i: int) -> None:
            await q.acquire()
            order.append(i)

        tasks = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        assert q.waiting == 3 and q.running == 1
        for _ in range(3):
            q.release(0.001)
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2] and q.running == 1 and q.waiting == 0

    run(main())


def test_a_predicted_wait_over_the_budget_is_refused_without_queueing() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=0.05, max_inflight=10)
        await q.acquire()
        q.service_s = 0.2  # measured: a slot frees every 200 ms, four times the budget
        with pytest.raises(Refused) as exc:
            await q.acquire()
        assert exc.value.refusal.reason == "queue_time" and q.waiting == 0
        assert "200 ms wait predicted, over the 50 ms budget" in exc.value.refusal.message

    run(main())


def test_the_client_deadline_only_lowers_the_budget() -> None:
    q = AdmissionQueue(concurrency=1, queue_budget_s=0.05, max_inflight=10)
    q.service_s = 0.01
    assert q.wait_budget_s(None) == 0.05
    assert q.wait_budget_s(10.0) == 0.05  # a generous deadline cannot raise it
    assert q.wait_budget_s(0.03) == pytest.approx(0.02)  # 30 ms minus the 10 ms it takes to serve
    assert q.wait_budget_s(0.001) == 0.0

    async def main() -> None:
        await q.acquire(0.001)  # a free slot: no wait, admitted whatever the deadline
        with pytest.raises(Refused) as exc:
            await q.acquire(0.001)
        assert exc.value.refusal.reason == "deadline"

    run(main())


def test_a_waiter_past_its_wait_limit_is_refused_and_leaves_the_queue() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=0.03, max_inflight=10)
        await q.acquire()
        q.service_s = 0.001  # a wrong prediction: the slot is held much longer
        t0 = time.perf_counter()
        with pytest.raises(Refused) as exc:
            await q.acquire()
        assert exc.value.refusal.reason == "waited" and q.waiting == 0
        assert time.perf_counter() - t0 >= WAIT_LIMIT_BUDGETS * 0.03 * 0.9  # the limit, not the budget
        q.release(0.5)
        assert q.running == 0

    run(main())


def test_a_waiter_let_in_is_served_when_its_slot_comes_a_little_past_the_budget() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=0.03, max_inflight=10)
        await q.acquire()
        q.service_s = 0.001  # predicted 1 ms: let in
        waiter = asyncio.create_task(q.acquire())
        await asyncio.sleep(0.05)  # the slot frees past the 30 ms budget, within the limit
        q.release(0.05)
        waited = await waiter
        assert waited >= 0.045 and q.running == 1

    run(main())


def test_a_waiter_is_refused_at_the_client_deadline_when_that_comes_first() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=0.03, max_inflight=10)
        await q.acquire()
        q.service_s = 0.001
        t0 = time.perf_counter()
        with pytest.raises(Refused) as exc:
            await q.acquire(deadline_s=0.02)
        assert exc.value.refusal.reason == "waited" and time.perf_counter() - t0 < 0.06

    run(main())


def test_early_refusal_takes_the_loop_lag_as_the_sojourn() -> None:
    q = AdmissionQueue(concurrency=1, queue_budget_s=0.01, max_inflight=2, target_s=0.005, interval_s=0.01)
    assert q.early_refusal() is None  # idle: on to the gate
    assert q.early_refusal(deadline_s=0.5) is None
    now = time.perf_counter()
    q.observe_loop_lag(0.02)
    assert not q.overloaded  # the lag is no CoDel sample: the gate's sojourns (waits included) decide
    assert q.early_refusal() is None  # a lagging loop alone is a burst until CoDel calls the queue standing
    assert q.early_refusal(deadline_s=0.01).reason == "deadline"  # but the client gives up before its turn
    q.observe_sojourn(0.02, now)
    q.observe_sojourn(0.02, now + 0.02)
    assert q.overloaded
    refusal = q.early_refusal(received_at=time.perf_counter())
    assert refusal.reason == "queue_time" and "20 ms queued" in refusal.message
    q.observe_loop_lag(0.001)  # the loop caught up: on to the gate, whose sojourns end the state
    assert q.early_refusal() is None
    q.running, q.max_inflight = 2, 2
    assert q.early_refusal().reason == "inflight"


def test_a_stall_is_not_held_against_a_request_that_would_queue_briefly() -> None:
    q = AdmissionQueue(concurrency=1, queue_budget_s=0.01, max_inflight=10, target_s=0.005, interval_s=0.01)
    q.running, q.service_s = 1, 0.002  # the slot is busy: a newcomer would wait about 2 ms
    q.observe_loop_lag(0.011)  # the loop stalled once, past the budget
    assert q.early_refusal() is None  # not a standing queue: its backlog is served
    assert q.immediate_refusal(0.011) is None
    assert q.early_refusal(deadline_s=0.012).reason == "deadline"  # 11 + 2 ms: past the client's 12 ms
    now = time.perf_counter()
    q.observe_sojourn(0.02, now)
    q.observe_sojourn(0.02, now + 0.02)
    refusal = q.early_refusal()  # standing: the 11 ms it will have queued count, over the 5 ms target
    assert refusal.reason == "queue_time"



def test_a_long_sojourn_is_refused_only_in_a_standing_queue_or_past_the_client_deadline() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=4, queue_budget_s=0.02, max_inflight=10, target_s=0.005, interval_s=0.1)
        await q.acquire(received_at=time.perf_counter() - 0.5)  # one stalled request: a burst, served
        with pytest.raises(Refused) as exc:  # the client's 100 ms are long gone
            await q.acquire(deadline_s=0.1, received_at=time.perf_counter() - 0.5)
        assert exc.value.refusal.reason == "deadline"
        standing = AdmissionQueue(concurrency=4, queue_budget_s=0.02, max_inflight=10, target_s=0.005,
                                  interval_s=0.1)
        standing.observe_sojourn(0.5, now=time.perf_counter() - 0.2)  # above target since two intervals ago
        with pytest.raises(Refused) as exc:
            await standing.acquire(received_at=time.perf_counter() - 0.5)
        assert exc.value.refusal.reason == "queue_time" and "queued before admission" in exc.value.refusal.message
        assert standing.overloaded and standing.running == 0 and q.running == 1

    run(main())


def test_codel_shortens_the_budget_for_a_standing_queue_only() -> None:
    q = AdmissionQueue(concurrency=4, queue_budget_s=0.02, max_inflight=10, target_s=0.005, interval_s=0.1)
    q.observe_sojourn(0.008, now=10.0)  # above target once: a burst, not yet a standing queue
    q.observe_sojourn(0.008, now=10.05)
    assert not q.overloaded and q.budget_s == 0.02
    q.observe_sojourn(0.008, now=10.11)  # above target for a whole interval
    assert q.overloaded and q.budget_s == 0.005
    q.observe_sojourn(0.001, now=10.2)  # one got through fast: the queue drained
    assert not q.overloaded and q.budget_s == 0.02


def test_a_cancelled_waiter_hands_on_a_slot_it_was_given() -> None:
    async def main() -> None:
        q = AdmissionQueue(concurrency=1, queue_budget_s=5.0, max_inflight=10)
        await q.acquire()
        task = asyncio.create_task(q.acquire())
        await asyncio.sleep(0.01)
        q.release(0.001)  # the slot is handed to the waiter ...
        task.cancel()  # ... which is cancelled before it runs (its client went away)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert q.running == 0 and q.waiting == 0

    run(main())
