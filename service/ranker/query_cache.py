"""A thread-safe LRU cache of query vectors. A bundle version with another query tower starts with a cache of its
own (a swap never serves stale vectors); one that takes the query tower over takes the cache over with it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from itertools import islice

import numpy as np


class QueryCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        if self.capacity == 0:
            return None
        with self._lock:
            vec = self._data.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: str, vec: np.ndarray) -> None:
        if self.capacity == 0:
            return
        vec.setflags(write=False)
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def recent(self, n: int) -> list[np.ndarray]:
        """The `n` most recently used vectors, newest first (a new index is warmed with them before a swap)."""
        with self._lock:
            return list(islice(reversed(self._data.values()), max(n, 0)))

    def recent_keys(self, n: int) -> list[str]:
        """The `n` most recently used queries, newest first (a new query tower encodes them before its swap)."""
        with self._lock:
            return list(islice(reversed(self._data.keys()), max(n, 0)))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
