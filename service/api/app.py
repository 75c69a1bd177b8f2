"""`create_app(settings)`: wiring only. Startup is a straight line: load bundle (verify → open → warm up)
→ watch CURRENT → serve; shutdown refuses new requests, drains in-flight ones, then closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from service.api import errors
from service.api.admission import AdmissionGate, EarlyRefusal
from service.api.fast_rank import FastRank
from service.api.loop_lag import LoopLagProbe
from service.api.middleware import BodyLimit, RequestMetrics
from service.api.request_context import RequestContext
from service.api.routes import admin, health, rank
from service.api.server import EARLY_REFUSAL
from service.gc_pauses import GcPauseRecorder
from service.metrics import Metrics
from service.ranker.admission import AdmissionQueue
from service.ranker.ranker import Ranker
from service.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ranker = Ranker(settings, metrics)
        await asyncio.to_thread(ranker.reload)  # fails loudly (BundleError names the file) before serving
        app.state.ranker = ranker
        watcher = asyncio.create_task(ranker.watch()) if settings.watch_interval_s > 0 else None
        gc_pauses = GcPauseRecorder(metrics.gc_pause_seconds)
        gc_pauses.install()
        loop_lag = LoopLagProbe(admission, metrics.loop_lag_seconds)
        loop_lag.start()
        try:
            # lifespan state: uvicorn hands it to every connection's protocol (`service.api.server`)
            yield {EARLY_REFUSAL: EarlyRefusal(admission, metrics)} if settings.early_refusal else None
        finally:
            loop_lag.stop()
            gc_pauses.uninstall()
            if watcher is not None:
                watcher.cancel()
            drained = await asyncio.to_thread(ranker.drain, settings.shutdown_grace_s)
            if not drained:
                log.warning("shutdown: %d requests still in flight after %.1fs", ranker.inflight,
                            settings.shutdown_grace_s)
            await asyncio.to_thread(ranker.close)

    app = FastAPI(
        title="twinrank",
        summary="Sponsored-search ad ranking: TwinBERT student over FAISS and ONNX Runtime",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(rank.router)
    app.include_router(health.router)
    if settings.reload_enabled:
        app.include_router(admin.router)
    # Outermost last: request id → metrics → body limit (the body is read, not parsed) → admission → /rank
    if settings.fast_rank_path:
        app.add_middleware(FastRank, state=app.state)
    admission = AdmissionQueue(settings.max_concurrency, settings.queue_budget_ms / 1000, settings.max_inflight,
                               settings.queue_target_ms / 1000, settings.queue_interval_ms / 1000)
    app.state.admission = admission
    app.add_middleware(AdmissionGate, queue=admission, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestContext, state=app.state, access_log_enabled=settings.access_log)
    return app
