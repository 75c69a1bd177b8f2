"""The micro-batcher: concurrent queries share one encode call; a lone query does not wait."""

from __future__ import annotations

import threading
import time

import numpy as np

from service.ranker.batcher import QueryBatcher
from service.ranker.query_cache import QueryCache


class GatedEncoder:
    """Encodes texts as [len(text), 1]; the first call blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def __call__(self, texts: list[str]):
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.gate.wait(10)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32), 0.0, 0.0


def test_concurrent_queries_share_a_batch() -> None:
    enc = GatedEncoder()
    b = QueryBatcher(enc, max_batch=32, max_wait_s=0.002)
    out: dict[str, float] = {}

    def call(text: str) -> None:
        out[text] = float(b.encode(text).vector[0])

    first = threading.Thread(target=call, args=("first",))
    first.start()
    while not enc.calls:  # the first batch is running (and held); the next 10 queue behind it
        time.sleep(0.001)
    rest = [threading.Thread(target=call, args=("q" * (i + 1),)) for i in range(10)]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 10
    while b._queue.qsize() < 10 and time.monotonic() < deadline:
        time.sleep(0.001)
    enc.gate.set()
    for t in [first, *rest]:
        t.join()
    b.close()
    assert out == {"first": 5.0, **{"q" * (i + 1): float(i + 1) for i in range(10)}}
    assert len(enc.calls) == 2 and sorted(enc.calls[1]) == sorted("q" * (i + 1) for i in range(10))


def test_lone_query_does_not_wait_for_company() -> None:
    b = QueryBatcher(lambda texts: (np.ones((len(texts), 2), np.float32), 0.0, 0.0), max_batch=8, max_wait_s=0.5)
    t0 = time.perf_counter()
    b.encode("alone")
    assert time.perf_counter() - t0 < 0.25  # far below max_wait: nobody announced a second query
    b.close()


def test_encoder_failure_reaches_every_caller_and_the_worker_survives() -> None:
    def boom(texts):
        if "bad" in texts:
            raise RuntimeError("onnx failed")
        return np.ones((len(texts), 2), np.float32), 0.0, 0.0

    b = QueryBatcher(boom, max_batch=8, max_wait_s=0.0)
    try:
        b.encode("bad")
    except RuntimeError as exc:
        assert "onnx failed" in str(exc)
    else:
        raise AssertionError("no error")
    assert b.encode("good").vector.shape == (2,)
    b.close()


def test_a_cancelled_caller_is_skipped_and_the_batcher_survives() -> None:
    enc = GatedEncoder()
    b = QueryBatcher(enc, max_batch=8, max_wait_s=0.0)
    first = b.submit("first")
    while not enc.calls:  # the first batch runs (held); the next query queues behind it
        time.sleep(0.001)
    gone = b.submit("gone")
    assert gone.cancel()  # e.g. the awaiting request task was cancelled on the event loop
    enc.gate.set()
    assert first.result(10).vector[0] == 5.0
    assert b.encode("after").vector[0] == 5.0  # the batcher thread is alive
    assert ["gone"] not in enc.calls and all("gone" not in c for c in enc.calls)
    b.close()


def test_query_cache_is_lru() -> None:
    c = QueryCache(2)
    c.put("a", np.zeros(2))
    c.put("b", np.ones(2))
    assert c.get("a") is not None
    c.put("c", np.ones(2))
    assert c.get("b") is None and c.get("a") is not None and len(c) == 2
