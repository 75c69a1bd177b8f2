"""Micro-batching of concurrent query encodings into one ONNX call.

One worker thread owns the queue (TEI's habit). It takes whatever is queued, up to `max_batch`; it
waits for more (at most `max_wait_s`) only while callers have announced that a query is on its way,
so a lone request never pays the wait. Queries that arrive while a batch runs form the next batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from service.ranker.low_priority import nice_current_thread

EncodeFn = Callable[[list[str]], tuple[np.ndarray, float, float]]


@dataclass
class Encoded:
    """One query's vector and the batch it rode in (stage seconds are the whole batch's)."""

    vector: np.ndarray
    tokenize_s: float
    encode_s: float
    batch_size: int


_STOP = object()


class QueryBatcher:
    """`on_batch(size, cpu_s)` is called after each successful encoder call (metrics); the worker thread runs at
    nice value `nice` (see `settings.compute_nice`)."""

    def __init__(self, encode: EncodeFn, max_batch: int, max_wait_s: float, name: str = "query-batcher",
                 on_batch: Callable[[int, float], None] | None = None, nice: int = 0) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._announced = 0
        self._lock = threading.Lock()
        self._on_batch = on_batch
        self._nice = nice
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def announce(self) -> None:
        """A caller will `submit` soon: a forming batch may wait for it (bounded by max_wait_s)."""
        with self._lock:
            self._announced += 1

    def withdraw(self) -> None:
        """An announced caller will not submit after all (e.g. its query vector was cached)."""
        with self._lock:
            self._announced -= 1

    def submit(self, text: str, announced: bool = False) -> Future[Encoded]:
        fut: Future[Encoded] = Future()
        if announced:
            with self._lock:
                self._announced -= 1
        self._queue.put((text, fut))
        return fut

    def encode(self, text: str, announced: bool = False) -> Encoded:
        return self.submit(text, announced).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _expecting(self) -> bool:
        with self._lock:
            return self._announced > 0

    def _collect(self, first: tuple) -> tuple[list[tuple], bool]:
        batch, stop = [first], False
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._expecting():
                    break
                try:
                    item = self._queue.get(timeout=min(remaining, 0.0005))
                except queue.Empty:
                    continue
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        nice_current_thread(self._nice)
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._collect(first)
            # A caller awaiting from the event loop may have been cancelled meanwhile: its future is then done,
            # and setting a result on it would raise here and kill the batcher. Such queries are not encoded.
            batch = [(t, fut) for t, fut in batch if fut.set_running_or_notify_cancel()]
            if batch:
                self._encode_batch(batch)
            if stop:
                return

    def _encode_batch(self, batch: list[tuple[str, Future[Encoded]]]) -> None:
        cpu0 = time.thread_time()
        try:
            vecs, t_tok, t_enc = self._encode([t for t, _ in batch])
        except Exception as exc:  # hand the failure to every waiting caller, keep the worker alive
            for _, fut in batch:
                fut.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(batch), time.thread_time() - cpu0)
        for i, (_, fut) in enumerate(batch):
            fut.set_result(Encoded(vecs[i], t_tok, t_enc, len(batch)))
