"""Declared dependencies: the ranker, the settings, and the admin guard (constant-time token check)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.errors import ErrorKind, ServiceError
from service.ranker.ranker import Ranker
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="the admin token from settings (TWINRANK_ADMIN_TOKEN)")


# async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off per call
async def get_ranker(request: Request) -> Ranker:
    return request.app.state.ranker


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RankerDep = Annotated[Ranker, Depends(get_ranker)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_admin(settings: SettingsDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    token = settings.admin_token
    if not settings.reload_enabled or token is None:
        raise ServiceError(ErrorKind.UNAUTHORIZED, "admin endpoints are disabled (no admin_token configured)")
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise ServiceError(ErrorKind.UNAUTHORIZED, "Authorization: missing or wrong bearer token")


AdminDep = Depends(require_admin)
