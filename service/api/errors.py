"""Every error becomes `{error, error_type, field}` with one status per kind, mapped here and only here."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.responses import OrjsonResponse
from service.errors import ErrorKind, ServiceError

log = logging.getLogger(__name__)

STATUS = {
    ErrorKind.VALIDATION: 422,
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.OVERLOADED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.BUNDLE: 409,
    ErrorKind.BACKEND: 500,
}
RETRY_AFTER_S = b"1"  # seconds; overload clears within a second or it is not a burst, and clients back off
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w\[\]\.]*): ")


def error_response(exc: ServiceError) -> OrjsonResponse:
    retryable = exc.kind in (ErrorKind.OVERLOADED, ErrorKind.UNAVAILABLE)
    headers = {"Retry-After": RETRY_AFTER_S.decode()} if retryable else None
    if exc.kind is ErrorKind.UNAUTHORIZED:
        headers = {"WWW-Authenticate": "Bearer"}
    return OrjsonResponse({"error": exc.message, "error_type": exc.kind.value, "field": exc.field},
                          status_code=STATUS[exc.kind], headers=headers)


def field_path(loc: tuple) -> str:
    """("body", "ads", 2, "bid") → "ads[2].bid"."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def from_validation(exc: RequestValidationError) -> ServiceError:
    return from_errors(exc.errors())


def from_errors(errors: list) -> ServiceError:
    """The first problem of a request that failed schema validation, naming its field (pydantic's error list,
    from FastAPI's route or from the /rank fast path)."""
    err = errors[0]
    if err.get("type") == "json_invalid":
        detail = err.get("ctx", {}).get("error", "")
        return ServiceError(ErrorKind.BAD_REQUEST, f"body: not valid JSON ({detail})".replace(" ()", ""), "body")
    field = field_path(tuple(err.get("loc", ())))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif err.get("type") == "missing":
        msg = "field required"
    elif not field and err.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        msg = "must be a JSON object (send Content-Type: application/json)"
    m = _FIELD_PREFIX.match(msg)
    if m:  # a model-level check that already names its field, e.g. "ads[3].ad_id: duplicate ad_id"
        return ServiceError(ErrorKind.VALIDATION, msg, m.group(1))
    field = field or "body"
    return ServiceError(ErrorKind.VALIDATION, f"{field}: {msg}", field)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> OrjsonResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        return error_response(from_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        return OrjsonResponse({"error": str(exc.detail), "error_type": kind, "field": None},
                              status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> OrjsonResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return OrjsonResponse({"error": "internal error", "error_type": ErrorKind.BACKEND.value, "field": None},
                              status_code=500)
