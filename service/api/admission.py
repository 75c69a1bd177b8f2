"""The admission gate in front of POST /rank (both the fast path and the FastAPI route): a request takes a slot
of `service.ranker.admission.AdmissionQueue` before its body is parsed, and one that would wait past its budget
is answered 429 with Retry-After at once, having cost a header scan and nothing else.

Most refusals under overload are decided earlier still, by `EarlyRefusal`, called from the HTTP protocol as soon
as a request's headers are parsed (`service.api.server`): with the event loop's lag as the sojourn the request is
about to have, the refusals `AdmissionQueue.immediate_refusal` would make at the gate are made there, answered
with bytes written straight to the connection, and cost no ASGI task, middleware or scope. The gate keeps every
decision that needs the measured sojourn or a wait.

The client may lower the budget with `X-Request-Timeout-Ms` (its own deadline: a request that could not be
served in time is better refused now than answered after the caller gave up); it cannot raise it.
"""

from __future__ import annotations

import logging
import time

import orjson

from service.api.errors import RETRY_AFTER_S, STATUS
from service.api.middleware import is_rank_post
from service.api.request_context import access_log, request_id_from
from service.api.server import RECEIVED_AT
from service.errors import ErrorKind
from service.metrics import Metrics
from service.ranker.admission import AdmissionQueue, Refused

DEADLINE_HEADER = b"x-request-timeout-ms"
log = logging.getLogger(__name__)


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


def refusal_body(message: str) -> bytes:
    return orjson.dumps({"error": message, "error_type": ErrorKind.OVERLOADED.value, "field": None})


async def send_refusal(send, message: str) -> None:
    """429 with Retry-After, the body `service.api.errors` would write, built without a Response object."""
    body = refusal_body(message)
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


class EarlyRefusal:
    """Refuses POST /rank from the HTTP protocol (`BoundedHttpToolsProtocol`), before an ASGI task exists.

    `refuse` returns the whole HTTP response to write, or None to let the request go on to the gate. A refusal is
    counted as the gate counts it (`twinrank_admission_refusals` by reason, `twinrank_requests{status="429"}`,
    the request latency histogram) and echoes the request id. Logging: the gate's per-request line for a 429 is
    DEBUG, and so is this one; at INFO and above, one WARNING when shedding starts and then at most one summary
    every `summary_interval_s` (counts by reason), so that shedding thousands of requests a second costs no log
    writes yet shows in the logs.
    """

    def __init__(self, queue: AdmissionQueue, metrics: Metrics, summary_interval_s: float = 10.0) -> None:
        self.queue = queue
        self.metrics = metrics
        self.summary_interval_s = summary_interval_s
        self._requests_429 = metrics.requests.labels("/rank", "429")
        self._latency = metrics.request_seconds.labels("/rank")
        self._counts: dict[str, int] = {}
        self._last_log = -float("inf")

    def refuse(self, headers: list[tuple[bytes, bytes]], received_at: float | None,
               default_headers: list[tuple[bytes, bytes]] = ()) -> bytes | None:
        refusal = self.queue.early_refusal(client_deadline_s(headers), received_at)
        if refusal is None:
            return None
        rid = request_id_from(headers)
        body = refusal_body(refusal.message)
        head = [b"HTTP/1.1 429 Too Many Requests\r\n"]
        for name, value in default_headers:  # the server's own (date, server), as on every other response
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nretry-after: %s\r\n"
                    b"x-request-id: %s\r\n\r\n" % (len(body), RETRY_AFTER_S, rid.encode("ascii")))
        self.metrics.refused(refusal.reason)
        self._requests_429.inc()
        now = time.perf_counter()
        self._latency.observe(now - received_at if received_at is not None else 0.0)
        self._note(refusal.reason, rid, now)
        return b"".join(head) + body

    def _note(self, reason: str, rid: str, now: float) -> None:
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug("POST /rank 429 (refused before its body was read: %s)", reason,
                             extra={"method": "POST", "status": 429, "request_id": rid})
        self._counts[reason] = self._counts.get(reason, 0) + 1
        if now - self._last_log < self.summary_interval_s:
            return
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self._counts.items()))
        starting = now - self._last_log > 2 * self.summary_interval_s  # the first line ever, or after a quiet spell
        log.warning("%s: refused %d /rank requests at the protocol since the last such line (%s); "
                    "event loop lag %.1f ms",
                    "overloaded, shedding" if starting else "still shedding", sum(self._counts.values()), counts,
                    self.queue.loop_lag_s * 1000, extra={"refusals": dict(self._counts)})
        self._counts.clear()
        self._last_log = now
