"""The admission gate in front of POST /rank (both the fast path and the FastAPI route): a request takes a slot
of `service.ranker.admission.AdmissionQueue` before its body is parsed, and one that would wait past its budget
is answered 429 with Retry-After at once, having cost a header scan and nothing else.

The client may lower the budget with `X-Request-Timeout-Ms` (its own deadline: a request that could not be
served in time is better refused now than answered after the caller gave up); it cannot raise it.
"""

from __future__ import annotations

import time

import orjson

from service.api.errors import RETRY_AFTER_S, STATUS
from service.api.middleware import is_rank_post
from service.api.server import RECEIVED_AT
from service.errors import ErrorKind
from service.metrics import Metrics
from service.ranker.admission import AdmissionQueue, Refused

DEADLINE_HEADER = b"x-request-timeout-ms"


def client_deadline_s(headers: list[tuple[bytes, bytes]]) -> float | None:
    """`X-Request-Timeout-Ms` in seconds; None when absent or not a positive number (ignored, not an error:
    a bad hint must not fail a request that would otherwise be served)."""
    for name, value in headers:
        if name == DEADLINE_HEADER:
            try:
                ms = float(value)
            except ValueError:
                return None
            return ms / 1000 if 0 < ms < float("inf") else None
    return None


async def send_refusal(send, message: str) -> None:
    """429 with Retry-After, the body `service.api.errors` would write, built without a Response object."""
    body = orjson.dumps({"error": message, "error_type": ErrorKind.OVERLOADED.value, "field": None})
    await send({"type": "http.response.start", "status": STATUS[ErrorKind.OVERLOADED],
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", RETRY_AFTER_S)]})
    await send({"type": "http.response.body", "body": body})


class AdmissionGate:
    def __init__(self, app, queue: AdmissionQueue, metrics: Metrics) -> None:
        self.app = app
        self.queue = queue
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if not is_rank_post(scope):
            await self.app(scope, receive, send)
            return
        queue = self.queue
        try:
            waited = await queue.acquire(client_deadline_s(scope["headers"]), scope.get(RECEIVED_AT))
        except Refused as exc:
            self.metrics.refused(exc.refusal.reason)
            await send_refusal(send, exc.refusal.message)
            return
        self.metrics.observe_admission(waited, queue.waiting)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            queue.release(time.perf_counter() - start)
