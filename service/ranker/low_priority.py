"""Run a bundle load on a thread of its own at a lower CPU priority, so it takes the cores serving leaves idle.

Linux gives each thread its own nice value (`setpriority` on the thread id), and threads a thread starts inherit
it. So the loading thread is fresh (a pooled thread would stay niced for later work), and it is niced only when
what it opens starts no threads that serving later uses: an ONNX session with one intra-op thread runs on its
caller's thread, while a larger one starts a pool at creation that would serve every request at the lower
priority. The tokenizers' and FAISS's thread pools already exist by then (the first bundle warmed them up at
normal priority). Why not nice 19: the loader also holds the GIL for a while (the ad table's ids), and a
thread the scheduler rarely runs would keep request threads waiting for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
LOADER_NICE = 10
LOADER_THREAD_NAME = "bundle-loader"


def thread_nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def nice_current_thread(nice: int) -> None:
    """Raise the calling thread's nice value to at least `nice` (Linux; elsewhere, or where a container forbids
    it, the thread keeps its priority: everything still works, only the scheduling preference is lost)."""
    if nice > 0 and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, thread_nice(tid)))


def run_low_priority(fn: Callable[[], T], nice: int = LOADER_NICE) -> T:
    """`fn()` on a new thread niced to at least `nice` (Linux; elsewhere at normal priority); its result or
    its exception, re-raised here."""
    out: dict[str, object] = {}

    def target() -> None:
        nice_current_thread(nice)
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=target, name=LOADER_THREAD_NAME, daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]  # type: ignore[return-value]
