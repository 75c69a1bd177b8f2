"""Logs an on-call engineer can follow: every record made while a request is handled carries its request id
(a context variable read by a logging filter, so it needs no plumbing through the code), and the format is
text for people or one JSON object per line for a log pipeline (`Settings.log_format`)."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass
class RequestInfo:
    """The request being handled; inner layers fill in what only they know (the bundle version served)."""

    request_id: str
    route: str
    bundle_version: str | None = None


_REQUEST: ContextVar[RequestInfo | None] = ContextVar("twinrank_request", default=None)

# Fields a record may carry (`extra=`) that the JSON format writes when known, in this order.
FIELDS = ("request_id", "route", "method", "status", "latency_ms", "bundle_version", "event", "reason")


def current_request() -> RequestInfo | None:
    return _REQUEST.get()


def enter_request(info: RequestInfo):  # noqa: ANN201 - a contextvars.Token
    return _REQUEST.set(info)


def leave_request(token) -> None:  # noqa: ANN001
    _REQUEST.reset(token)


def note_bundle_version(version: str) -> None:
    """The bundle version that served the current request (for its access log line)."""
    info = _REQUEST.get()
    if info is not None:
        info.bundle_version = version


class RequestIdFilter(logging.Filter):
    """Stamps `request_id` and `route` of the request being handled (None outside a request) on a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = _REQUEST.get()
        if getattr(record, "request_id", None) is None:
            record.request_id = info.request_id if info else None
        if getattr(record, "route", None) is None:
            record.route = info.route if info else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601, UTC, ms), level, logger, msg, request_id, then the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in FIELDS[1:]:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return super().format(record)


def logging_config(log_format: str = "text", level: str | int = "INFO") -> dict:
    """A `logging.config.dictConfig` dict (also uvicorn's `log_config`): one stderr handler on the root logger
    with the request-id filter and the chosen format; uvicorn's own loggers propagate to it."""
    level_name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": formatter, "filters": ["request_id"]}},
        "root": {"handlers": ["stderr"], "level": level_name},
        "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error",
                                                                           "uvicorn.access")},
    }
