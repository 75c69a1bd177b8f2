"""Pure ASGI middleware: a body size limit (413 before the app reads a byte too many) and per-endpoint
latency and status metrics."""

from __future__ import annotations

import time

import orjson

from service.metrics import Metrics

KNOWN_PATHS = {"/rank", "/healthz", "/readyz", "/metrics", "/admin/reload", "/docs", "/openapi.json"}


def is_rank_post(scope) -> bool:
    """Whether an ASGI scope is the POST /rank request (the one the admission gate and the fast path handle)."""
    return scope["type"] == "http" and scope["path"] == "/rank" and scope["method"] == "POST"


async def _send_json(send, status: int, body: dict) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class BodyTooLarge(Exception):
    """The request body passed the size limit while it was being read."""


async def read_body(receive, max_bytes: int | None = None) -> bytes | None:
    """The whole request body from ASGI `receive`; None when the client disconnected first. Raises `BodyTooLarge`
    as soon as more than `max_bytes` have arrived (no limit when None)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = {"error": f"body: larger than the limit of {self.max_bytes} bytes", "error_type": "too_large",
                     "field": "body"}
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            await _send_json(send, 413, too_large)
            return
        if body is None:
            return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestMetrics:
    """Latency histogram per endpoint and a counter per (endpoint, status); unknown paths share a label."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._histograms: dict = {}
        self._counters: dict = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._histogram(endpoint).observe(time.perf_counter() - start)
            self._counter(endpoint, status).inc()

    # prometheus_client's `labels()` costs several µs a call: the label children are looked up once
    def _histogram(self, endpoint: str):  # noqa: ANN202
        child = self._histograms.get(endpoint)
        if child is None:
            child = self._histograms[endpoint] = self.metrics.request_seconds.labels(endpoint)
        return child

    def _counter(self, endpoint: str, status: int):  # noqa: ANN202
        child = self._counters.get((endpoint, status))
        if child is None:
            child = self._counters[(endpoint, status)] = self.metrics.requests.labels(endpoint, str(status))
        return child
