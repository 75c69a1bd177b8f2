"""Liveness, readiness (a real tiny encode + search) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.responses import OrjsonResponse
from service.schemas import ErrorBody, HealthResponse, ReadyResponse

from ..deps import RankerDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, response_class=OrjsonResponse, summary="Alive")
async def healthz() -> OrjsonResponse:
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz", response_model=ReadyResponse, response_class=OrjsonResponse,
            responses={503: {"model": ErrorBody, "description": "no bundle, or the test query failed"}},
            summary="Ready: a bundle is loaded and a tiny encode + search just worked")
async def readyz(ranker: RankerDep) -> OrjsonResponse:
    await asyncio.to_thread(ranker.probe)
    bundle = ranker.bundle
    return OrjsonResponse({"status": "ready", "bundle_version": bundle.version,
                           "model_id": bundle.manifest.model.model_id, "index_size": bundle.size})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(ranker: RankerDep) -> Response:
    return Response(generate_latest(ranker.metrics.registry), media_type=CONTENT_TYPE_LATEST)
