"""How uvicorn is run (`uvicorn_options`, used by `twinrank serve` and the test server): logging, keep-alive,
connection limit, and the HTTP protocol with two bounds uvicorn lacks.

uvicorn's httptools protocol starts no timer before a request's headers are complete (the keep-alive timer is
cancelled by the first byte received), and httptools buffers a header of any size: a client that opens
connections and trickles header bytes, or sends megabyte headers, holds memory and file descriptors as long as it
likes. `BoundedHttpToolsProtocol` closes a connection whose request line and headers are not complete within
`header_timeout_s` of it opening or of its next request's first byte (408), and answers 431 and closes once they pass
`max_header_bytes`. A connection that sent nothing at all is closed without an answer when the timeout ends.

It also refuses POST /rank early: when the lifespan state holds an `EARLY_REFUSAL` object
(`service.api.admission.EarlyRefusal`), a request whose headers say it would be refused anyway is answered 429
from here, before uvicorn makes its scope, task and middleware chain (a refusal through them costs about 220 µs
of CPU on a slow core, more than the refusal itself is worth under overload). Its body is read and dropped.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from service.logs import logging_config
from service.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without httptools: h11 and its own size limit
    HttpToolsProtocol = None


# The scope key holding `time.perf_counter()` when the server began reading the request: the admission gate
# measures from it how long the request queued before reaching the app.
RECEIVED_AT = "twinrank.received_at"
# The lifespan state key (uvicorn hands the lifespan's state to every connection) of the object that refuses
# /rank requests at the protocol: `refuse(headers, received_at, default_headers) -> bytes | None`.
EARLY_REFUSAL = "twinrank.early_refusal"


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = orjson.dumps({"error": message, "error_type": "bad_request", "field": None})
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a header timeout and a header size limit (`configure`)."""

        header_timeout_s: float = 10.0
        max_header_bytes: int = 16 * 1024

        @classmethod
        def configure(cls, settings: Settings) -> None:
            # Class attributes, set in each server process (the app factory sets them in uvicorn's workers too):
            # uvicorn builds one protocol object per connection from the class alone.
            cls.header_timeout_s = settings.header_timeout_s
            cls.max_header_bytes = settings.max_header_bytes

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            self._header_bytes_parsed = 0
            self._refused_early = False
            self._await_headers()
            self._arm_header_timer()  # a connection that never sends a byte is bounded too

        def _await_headers(self) -> None:
            self._in_headers = True
            self._header_bytes = 0

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _refuse(self, status: int, reason: str, message: str) -> None:
            self._cancel_header_timer()
            self._in_headers = False
            if not self.transport.is_closing():
                self.logger.warning("closing a connection: %s", message)
                self.transport.write(_raw_response(status, reason, message))
                self.transport.close()

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self._in_headers:
                return
            if self._header_bytes == 0:
                # Nothing sent yet (a client's pre-opened pool connection): close as an idle keep-alive is
                # closed. An unasked-for 408 there would be read as the answer to the client's next request.
                self._cancel_header_timer()
                self.transport.close()
                return
            self._refuse(408, "Request Timeout", f"request headers not complete within {self.header_timeout_s:g} s")

        def data_received(self, data: bytes) -> None:
            if not self._in_headers:
                super().data_received(data)
                return
            if self._header_timer is None:  # the first byte of a request on a kept-alive connection
                self._arm_header_timer()
            self._header_bytes += len(data)
            super().data_received(data)
            # Still in the headers after this chunk: every byte of it was request line or header.
            if self._in_headers and self._header_bytes > self.max_header_bytes:
                self._too_large()

        def _too_large(self) -> None:
            self._refuse(431, "Request Header Fields Too Large",
                         f"request line and headers over the limit of {self.max_header_bytes} bytes")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[RECEIVED_AT] = time.perf_counter()  # type: ignore[literal-required]
            self._header_bytes_parsed = 0

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._header_bytes_parsed = len(self.url)

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            self._header_bytes_parsed += len(name) + len(value) + 4

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._cancel_header_timer()
            if self._header_bytes_parsed > self.max_header_bytes:  # headers and body came in one chunk
                self._too_large()
                return
            if self._refuse_early():
                return
            super().on_headers_complete()

        def _refuse_early(self) -> bool:
            """Answer a POST /rank that admission refuses now, without an ASGI cycle; False: go on as usual."""
            shed = self.app_state.get(EARLY_REFUSAL)
            if shed is None or self.parser.get_method() != b"POST" or self.url.partition(b"?")[0] != b"/rank":
                return False
            # Only where the usual path would answer next and keep the connection: a pipelined request's answer
            # must wait for the one before it, and 100-continue and closing connections are rare, left to it.
            if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline \
                    or self.expect_100_continue or self.parser.get_http_version() != "1.1" \
                    or not self.parser.should_keep_alive():
                return False
            response = shed.refuse(self.headers, self.scope.get(RECEIVED_AT), self.server_state.default_headers)
            if response is None:
                return False
            self.transport.write(response)
            self._refused_early = True
            return True

        def on_body(self, body: bytes) -> None:
            if self.cycle is None or self._refused_early:  # refused in its headers: no request cycle to feed
                return
            super().on_body(body)

        def on_message_complete(self) -> None:
            if self._refused_early:  # its body is read: the connection is ready for the next request
                self._refused_early = False
                self.on_response_complete()
                return
            if self.cycle is None:
                return
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await_headers()  # the clock starts at the next request's first byte (idle: keep-alive timer)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)


def configure_protocol(settings: Settings) -> type | str:
    """The HTTP protocol for uvicorn, with this process's limits set."""
    if HttpToolsProtocol is None:  # pragma: no cover
        return "h11"
    BoundedHttpToolsProtocol.configure(settings)
    return BoundedHttpToolsProtocol


def uvicorn_options(settings: Settings, log_level: str = "info") -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that apply the settings' connection limits and
    log format."""
    return {
        "http": configure_protocol(settings),
        "h11_max_incomplete_event_size": settings.max_header_bytes,  # the limit when only h11 is there
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        "log_config": logging_config(settings.log_format, log_level),
        "log_level": log_level,
        "access_log": False,  # the app writes its own access line (request id, route, status, latency)
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s) + 1,
    }
