"""The outermost middleware: the request id (`X-Request-ID` taken from the request when it is a sane token, else
made), echoed in the response, set for every log record of the request (`service.logs`), and one access log
line per request (route, status, latency, bundle version)."""

from __future__ import annotations

import logging
import os
import re
import time

from service.api.middleware import KNOWN_PATHS
from service.logs import RequestInfo, enter_request, leave_request

REQUEST_ID_HEADER = b"x-request-id"
# Echoed into headers and logs: printable ASCII without spaces, short (anything else could forge log lines).
_SANE_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
access_log = logging.getLogger("twinrank.access")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(12).hex()


class RequestContext:
    def __init__(self, app, state, access_log_enabled: bool = True) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: the ranker, once the lifespan has started
        self.access_log = access_log_enabled

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(scope["headers"])
        info = RequestInfo(rid, scope["path"] if scope["path"] in KNOWN_PATHS else "other")
        token = enter_request(info)
        start = time.perf_counter()
        status = 500
        rid_header = (REQUEST_ID_HEADER, rid.encode("ascii"))

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                self._log(scope, info, status, time.perf_counter() - start)
            leave_request(token)

    def _log(self, scope, info: RequestInfo, status: int, seconds: float) -> None:
        version = info.bundle_version
        if version is None and info.route == "/rank":
            ranker = getattr(self.state, "ranker", None)
            bundle = ranker.bundle if ranker is not None else None
            version = bundle.version if bundle is not None else None
        # A refusal is counted in /metrics; its line is DEBUG, so that shedding load does not cost a log write
        level = (logging.ERROR if status == 500 else logging.WARNING if status > 500
                 else logging.DEBUG if status == 429 else logging.INFO)
        if not access_log.isEnabledFor(level):
            return
        access_log.log(level, "%s %s %d %.2f ms", scope["method"], scope["path"], status, seconds * 1000,
                       extra={"method": scope["method"], "status": status, "latency_ms": round(seconds * 1000, 3),
                              "bundle_version": version})
