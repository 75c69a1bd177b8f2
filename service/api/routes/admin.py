"""POST /admin/reload: load the bundle CURRENT names (or the one given) beside the old one and swap."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from service.api.responses import OrjsonResponse
from service.bundle import BundleError
from service.errors import ErrorKind, ServiceError
from service.schemas import ErrorBody, ReloadResponse

from ..deps import AdminDep, RankerDep

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post("/reload", response_model=ReloadResponse, response_class=OrjsonResponse,
             responses={401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
                        409: {"model": ErrorBody, "description": "the new bundle was refused; the old one serves"}},
             summary="Reload the current bundle (bearer token)")
async def reload(ranker: RankerDep) -> OrjsonResponse:
    try:
        result = await asyncio.to_thread(ranker.reload)
    except BundleError as exc:
        raise ServiceError(ErrorKind.BUNDLE, f"bundle refused, still serving "
                                             f"{ranker.bundle.version if ranker.bundle else 'nothing'}: {exc}") from exc
    return OrjsonResponse({"changed": result.changed, "bundle_version": result.bundle_version})
