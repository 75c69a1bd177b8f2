"""The micro-batcher: concurrent queries share one encode call; a lone query encodes on its own thread."""

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
    b = QueryBatcher(enc, max_batch=32)
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
    while len(b._queue) < 10 and time.monotonic() < deadline:
        time.sleep(0.001)
    enc.gate.set()
    for t in [first, *rest]:
        t.join()
    assert out == {"first": 5.0, **{"q" * (i + 1): float(i + 1) for i in range(10)}}
    assert len(enc.calls) == 2 and sorted(enc.calls[1]) == sorted("q" * (i + 1) for i in range(10))


def test_lone_query_encodes_on_the_calling_thread() -> None:
    threads: list[int] = []

    def enc(texts):
        threads.append(threading.get_ident())
        return np.ones((len(texts), 2), np.float32), 0.0, 0.0

    b = QueryBatcher(enc, max_batch=8)
    out = b.encode("alone")
    assert threads == [threading.get_ident()] and out.batch_size == 1
    assert b.encode("again").batch_size == 1 and len(threads) == 2  # idle again after each call


def test_batches_respect_max_batch_and_pass_the_lead_on() -> None:
    enc = GatedEncoder()
    b = QueryBatcher(enc, max_batch=4)
    first = threading.Thread(target=b.encode, args=("first",))
    first.start()
    while not enc.calls:
        time.sleep(0.001)
    rest = [threading.Thread(target=b.encode, args=(f"q{i}",)) for i in range(10)]
    for t in rest:
        t.start()
    while len(b._queue) < 10:
        time.sleep(0.001)
    enc.gate.set()
    for t in [first, *rest]:
        t.join(10)
    assert [len(c) for c in enc.calls] == [1, 4, 4, 2]
    assert not b._busy and not b._queue


def test_encoder_failure_reaches_every_caller_and_the_batcher_stays_usable() -> None:
    def boom(texts):
        if "bad" in texts:
            raise RuntimeError("onnx failed")
        return np.ones((len(texts), 2), np.float32), 0.0, 0.0

    b = QueryBatcher(boom, max_batch=8)
    try:
        b.encode("bad")
    except RuntimeError as exc:
        assert "onnx failed" in str(exc)
    else:
        raise AssertionError("no error")
    assert b.encode("good").vector.shape == (2,)


def test_failure_in_a_shared_batch_reaches_its_followers() -> None:
    gate = threading.Event()
    calls: list[list[str]] = []

    def enc(texts):
        calls.append(list(texts))
        if len(calls) == 1:
            gate.wait(10)
            return np.ones((1, 2), np.float32), 0.0, 0.0
        raise RuntimeError("onnx failed")

    b = QueryBatcher(enc, max_batch=8)
    errors: list[str] = []

    def call(text: str) -> None:
        try:
            b.encode(text)
        except RuntimeError as exc:
            errors.append(str(exc))

    first = threading.Thread(target=call, args=("first",))
    first.start()
    while not calls:
        time.sleep(0.001)
    rest = [threading.Thread(target=call, args=(f"q{i}",)) for i in range(3)]
    for t in rest:
        t.start()
    while len(b._queue) < 3:
        time.sleep(0.001)
    gate.set()
    for t in [first, *rest]:
        t.join(10)
    assert errors == ["onnx failed"] * 3 and len(calls) == 2
    assert not b._busy


def test_query_cache_is_lru() -> None:
    c = QueryCache(2)
    c.put("a", np.zeros(2))
    c.put("b", np.ones(2))
    assert c.get("a") is not None
    c.put("c", np.ones(2))
    assert c.get("b") is None and c.get("a") is not None and len(c) == 2
