"""The ranker: the bundle being served, admission control, worker threads, and atomic bundle swaps.

Requests hold a lease on the bundle snapshot they started with, so a swap never pulls a bundle out
from under a request; the old bundle is closed when its last lease ends. A new version is loaded beside the
served one on a low-priority thread (`low_priority`), taking over the encoders it shares with it
(`model_parts`), and swapped in only once it is verified, opened and warm. A refused version is remembered
(not retried every poll) until CURRENT names another one.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from service.bundle import BundleError, read_current, resolve
from service.errors import ErrorKind, ServiceError
from service.metrics import Metrics
from service.ranker.batcher import QueryBatcher
from service.ranker.loaded import LoadedBundle, SpareModel
from service.ranker.low_priority import LOADER_NICE, nice_current_thread, run_low_priority
from service.ranker.pipeline import query_vector, rank, rank_with_query_vector
from service.ranker.types import RankOutcome, RankQuery
from service.runtime.onnx_model import CPU
from service.runtime.providers import ort_providers
from service.settings import Settings
from service.thread_cpu import BATCHER_THREAD_PREFIX, WORKER_THREAD_PREFIX

log = logging.getLogger(__name__)


class Serving:
    """A loaded bundle with its query batcher, reference-counted by the requests using it."""

    def __init__(self, bundle: LoadedBundle, settings: Settings, metrics: Metrics) -> None:
        self.bundle = bundle
        self.batcher = QueryBatcher(bundle.encode_queries, settings.max_batch, settings.max_batch_wait_ms / 1000,
                                    name=f"{BATCHER_THREAD_PREFIX}{bundle.version}", on_batch=metrics.observe_batch,
                                    nice=settings.compute_nice)
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Count one more user; False (and nothing counted) once retired: the caller takes the new one."""
        with self._lock:
            if self._retired:
                return False
            self._users += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            close = self._retired and self._users == 0
        if close:
            self._close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            close = self._users == 0
        if close:
            self._close()

    def _close(self) -> None:
        self.batcher.close()
        self.bundle.close()


@dataclass
class ReloadResult:
    changed: bool
    bundle_version: str
    version_dir: str


class Ranker:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._serving: Serving | None = None
        self._reload_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(settings.worker_threads, thread_name_prefix=WORKER_THREAD_PREFIX,
                                            initializer=nice_current_thread, initargs=(settings.compute_nice,))
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self.closing = False
        self.refused: dict[str, str] = {}  # version dir name → why it was refused
        self._spare: SpareModel | None = None  # the model last swapped out for a new one (settings.keep_spare_model)

    # ---- bundles -------------------------------------------------------------------------------
    @property
    def bundle(self) -> LoadedBundle | None:
        serving = self._serving
        return serving.bundle if serving else None

    def reload(self, target: Path | None = None) -> ReloadResult:
        """Load `target` (default: what settings.bundles resolves to now) beside the current bundle and
        swap it in. A bundle that fails verification or warm-up raises `BundleError`; the old one stays."""
        with self._reload_lock:
            where = Path(target or self.settings.bundles)
            try:
                version_dir = resolve(where).resolve()
            except BundleError as exc:
                self._refuse(where.name, exc)
                raise
            current = self._serving
            if current is not None and current.bundle.version_dir == version_dir:
                return ReloadResult(False, current.bundle.version, str(version_dir))
            previous = current.bundle if current is not None else None
            try:
                if previous is None:  # nothing to protect: load at full speed
                    new = LoadedBundle.load(version_dir, self.settings)
                else:
                    new = run_low_priority(partial(LoadedBundle.load, version_dir, self.settings, previous,
                                                   self._spare),
                                           LOADER_NICE if self._loader_may_be_niced() else 0)
            except BundleError as exc:
                self._refuse(version_dir.name, exc)
                raise
            self._serving = Serving(new, self.settings, self.metrics)  # the atomic swap: one reference
            self.refused.pop(version_dir.name, None)
            self.metrics.bundle_loaded(new.version, new.size, "gpu" if new.index.on_gpu else "cpu")
            self.metrics.reloads.labels("loaded").inc()
            reused = new.model.reused
            how = "same_model" if reused == frozenset(new.model.keys) else "new_model" if not reused else "partly_new"
            how = how if previous is not None else "startup"
            if current is not None:
                self._keep_spare(current.bundle, new)
                current.retire()
            # A full collection walks every tracked object, a stall on a request thread at a random moment (the
            # p99.9: 30-70 ms when the ad table was a million Python strings). Objects alive now live until the
            # next reload, so they move to the permanent generation, which the collector skips.
            gc.freeze()
            self.metrics.record_bundle_event("loaded", new.version, how, f"serving bundle {new.version} from "
                                             f"{version_dir} ({how})")
            return ReloadResult(True, new.version, str(version_dir))

    def _keep_spare(self, outgoing: LoadedBundle, new: LoadedBundle) -> None:
        """Keep the outgoing bundle's model when `new` did not take all of it over: a rollback would want it.
        (After an ad-only update the spare stays what it was.)"""
        if self.settings.keep_spare_model and any(not new.model.shares(name, outgoing.model)
                                                   for name in outgoing.model.parts):
            self._spare = outgoing.as_spare()

    def _loader_may_be_niced(self) -> bool:
        """Whether the loading thread starts no threads that serving will use (see `low_priority`)."""
        s = self.settings
        return s.ort_intra_op_threads == 1 and ort_providers(s.device) == CPU

    def _refuse(self, name: str, exc: BundleError) -> None:
        self.refused[name] = str(exc)
        self.metrics.reloads.labels("refused").inc()
        serving = self._serving
        self.metrics.record_bundle_event("refused", name, exc.reason, f"refused bundle {name} ({exc.reason}), still "
                                         f"serving {serving.bundle.version if serving else 'nothing'}: {exc}")

    def check_current(self) -> ReloadResult | None:
        """Reload when the root's CURRENT names a version other than the one served. A refused version is
        not tried again while CURRENT still names it."""
        root = Path(self.settings.bundles)
        if not (root / "CURRENT").exists():
            return None
        try:
            name = read_current(root)
        except BundleError as exc:  # a garbled pointer: refused once, like a bad version
            if "CURRENT" not in self.refused:
                self._refuse("CURRENT", exc)
            return None
        for old in [n for n in self.refused if n != name]:
            del self.refused[old]  # CURRENT moved on: a later return to that name is tried afresh
        serving = self._serving
        if name is None or name in self.refused or (serving and serving.bundle.version_dir.name == name):
            return None
        return self.reload(root / name)

    async def watch(self) -> None:
        """Poll CURRENT every settings.watch_interval_s; errors are logged, never raised."""
        interval = self.settings.watch_interval_s
        while interval > 0:
            await asyncio.sleep(interval)
            try:
                result = await asyncio.to_thread(self.check_current)
                if result and result.changed:
                    log.info("CURRENT changed: now serving %s", result.bundle_version)
            except BundleError:
                pass  # logged and counted by reload; the old bundle keeps serving
            except Exception:  # the watcher must survive anything, e.g. a racing file system
                log.exception("bundle watcher error")

    # ---- requests ------------------------------------------------------------------------------
    def _serving_acquired(self) -> Serving:
        """The served bundle, acquired. A swap may retire the one read a moment ago (and close it once unused)
        before it is acquired: then the one that replaced it is taken (a swap publishes the new reference before
        it retires the old one, so one retry finds it)."""
        for _ in range(100):
            serving = self._serving
            if serving is None or self.closing:
                raise ServiceError(ErrorKind.UNAVAILABLE, "no bundle loaded" if serving is None else "shutting down")
            if serving.acquire():
                return serving
        raise ServiceError(ErrorKind.UNAVAILABLE, "the served bundle was retired; retry")

    def _admit(self) -> Serving:
        if self.closing:
            raise ServiceError(ErrorKind.UNAVAILABLE, "shutting down")
        if self._serving is None:
            raise ServiceError(ErrorKind.UNAVAILABLE, "no bundle loaded")
        with self._inflight_lock:
            if self._inflight >= self.settings.max_inflight:
                self.metrics.rejected.inc()
                raise ServiceError(ErrorKind.OVERLOADED, f"server busy: {self._inflight} requests in flight "
                                                         f"(max_inflight={self.settings.max_inflight}); retry later")
            self._inflight += 1
            self._idle.clear()
            self.metrics.inflight.set(self._inflight)
        try:
            serving = self._serving_acquired()
        except ServiceError:
            self._leave()
            raise
        serving.batcher.announce()
        return serving

    def _done(self, serving: Serving) -> None:
        serving.release()
        self._leave()

    def _leave(self) -> None:
        with self._inflight_lock:
            self._inflight -= 1
            self.metrics.inflight.set(self._inflight)
            if self._inflight == 0:
                self._idle.set()

    def _run(self, serving: Serving, req: RankQuery) -> RankOutcome:
        try:
            outcome = rank(serving.bundle, serving.batcher, req, self.settings.retrieve_k,
                           self.settings.ad_encode_batch)
        finally:
            self._done(serving)
        self._observe(outcome)
        return outcome

    def _observe(self, outcome: RankOutcome) -> None:
        self.metrics.cache.labels("hit" if outcome.query_cached else "miss").inc()
        self.metrics.observe_stage_cpu(outcome.cpu_s)

    async def rank(self, req: RankQuery) -> RankOutcome:
        """Admit (or refuse fast), then rank. The query encoder always runs on the batcher thread, and a request
        with ads runs on a worker thread. A query-only request, by default (`retrieve_on_event_loop`), takes
        its query vector back on the event loop and searches and scores there: about 1.5 ms of CPU that releases
        the GIL in FAISS, against two thread hand-offs on a machine whose cores are busy. Interleaved A/Bs at
        200 req/s over 1M ads (reports/perf/README.md): p99 lower in 16 of 22 rounds, CPU per request 4-7 % lower."""
        serving = self._admit()
        if self.settings.retrieve_on_event_loop and req.ads is None:
            try:
                outcome = await self._rank_on_loop(serving, req)
            finally:
                self._done(serving)
            self._observe(outcome)
            return outcome
        try:
            # in the request's context, so the worker thread's log records carry its request id
            fut = asyncio.get_running_loop().run_in_executor(self._executor, contextvars.copy_context().run,
                                                             self._run, serving, req)
        except BaseException:
            serving.batcher.withdraw()
            self._done(serving)
            raise
        return await fut

    async def _rank_on_loop(self, serving: Serving, req: RankQuery) -> RankOutcome:
        t_start = time.perf_counter()
        cached, pending = query_vector(serving.bundle, serving.batcher, req.query)
        enc = await asyncio.wrap_future(pending) if pending is not None else None
        return rank_with_query_vector(serving.bundle, req, cached, enc, t_start, self.settings.retrieve_k,
                                      self.settings.ad_encode_batch)

    def rank_sync(self, req: RankQuery) -> RankOutcome:
        """The same, on the calling thread (benchmarks and scripts)."""
        return self._run(self._admit(), req)

    @property
    def inflight(self) -> int:
        return self._inflight

    def probe(self) -> None:
        """A tiny encode + search on the served bundle (readiness); raises ServiceError if it fails."""
        serving = self._serving_acquired()
        try:
            serving.bundle.warm_up()
        except BundleError as exc:
            raise ServiceError(ErrorKind.UNAVAILABLE, f"readiness check failed: {exc}") from exc
        finally:
            serving.release()

    # ---- lifecycle -----------------------------------------------------------------------------
    def drain(self, timeout_s: float) -> bool:
        """Refuse new requests and wait for in-flight ones; True when all finished in time."""
        self.closing = True
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        self.closing = True
        self._executor.shutdown(wait=True, cancel_futures=False)
        serving, self._serving = self._serving, None
        self._spare = None
        if serving is not None:
            serving.retire()
