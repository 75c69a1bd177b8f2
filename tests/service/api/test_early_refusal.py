"""Refusal at the HTTP protocol, over raw sockets against real uvicorn: a /rank request that admission refuses
anyway is answered 429 from its headers (Retry-After, the request id, the error body), counted like any refusal,
its body read and dropped so that the next request on the connection is served; a pipelined request is refused
in order, by the gate; with `early_refusal` off the gate refuses it alone."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from service.api.admission import EarlyRefusal
from service.metrics import Metrics
from service.ranker.admission import AdmissionQueue
from tests.service.conftest import make_settings
from tests.utils.server import running_server

REFUSED_HEADERS = {"X-Request-Timeout-Ms": "0.001", "X-Request-ID": "shed-me-1"}  # past its deadline on arrival


@pytest.fixture(scope="module")
def url(_pristine_root):
    with running_server(make_settings(_pristine_root)) as (u, _):
        yield u


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _post(body: bytes, headers: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (f"POST /rank HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"{extra}\r\n").encode()
    return head, body


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response off a keep-alive connection (`buf` keeps bytes of the next one)."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    n = int(headers["content-length"])
    while len(rest) < n:
        rest += sock.recv(65536)
    buf[:] = rest[n:]
    return int(lines[0].split()[1]), headers, rest[:n]


def _query_body(pad: int = 0) -> bytes:
    return json.dumps({"query": "laufschuhe damen"}).encode()[:-1] + b" " * pad + b"}"


@pytest.mark.parametrize("pad", [0, 20_000], ids=["small_body", "body_over_the_header_limit"])
@pytest.mark.parametrize("trickled", [False, True], ids=["one_write", "body_sent_later"])
def test_a_refused_request_is_answered_from_its_headers_and_the_connection_serves_the_next(url, pad,
                                                                                         trickled) -> None:
    head, body = _post(_query_body(pad), REFUSED_HEADERS)
    with _connect(url) as sock:
        buf = bytearray()
        if trickled:
            sock.sendall(head)
            status, headers, payload = _read_response(sock, buf)  # answered before the body was sent
            sock.sendall(body)
        else:
            sock.sendall(head + body)
            status, headers, payload = _read_response(sock, buf)
        assert status == 429 and headers["retry-after"] == "1" and headers["x-request-id"] == "shed-me-1"
        error = json.loads(payload)
        assert error["error_type"] == "overloaded" and "timeout" in error["error"]
        sock.sendall(b"".join(_post(_query_body())))  # the same connection, the next request
        status, _, payload = _read_response(sock, buf)
        assert status == 200, payload
        assert json.loads(payload)["results"]


def test_a_pipelined_request_is_refused_in_order(url) -> None:
    first, second = b"".join(_post(_query_body())), b"".join(_post(_query_body(), REFUSED_HEADERS))
    with _connect(url) as sock:
        sock.sendall(first + second)
        buf = bytearray()
        assert _read_response(sock, buf)[0] == 200
        status, headers, _ = _read_response(sock, buf)
    assert status == 429 and headers["x-request-id"] == "shed-me-1"


def _metric(url: str, line_start: str) -> float:
    with _connect(url) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        _, _, payload = _read_response(sock, bytearray())
    for line in payload.decode().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_protocol_refusal_is_counted_like_any_other(url) -> None:
    before = (_metric(url, 'twinrank_requests_total{endpoint="/rank",status="429"}'),
              _metric(url, 'twinrank_admission_refusals_total{reason="deadline"}'))
    with _connect(url) as sock:
        sock.sendall(b"".join(_post(_query_body(), REFUSED_HEADERS)))
        assert _read_response(sock, bytearray())[0] == 429
    after = (_metric(url, 'twinrank_requests_total{endpoint="/rank",status="429"}'),
             _metric(url, 'twinrank_admission_refusals_total{reason="deadline"}'))
    assert after == (before[0] + 1, before[1] + 1)
    assert _metric(url, "twinrank_event_loop_lag_seconds_count") > 0


def test_with_early_refusal_off_the_gate_refuses(_pristine_root) -> None:
    with running_server(make_settings(_pristine_root, early_refusal=False)) as (u, _), _connect(u) as sock:
        sock.sendall(b"".join(_post(_query_body(), REFUSED_HEADERS)))
        status, headers, _ = _read_response(sock, bytearray())
    assert status == 429 and headers["x-request-id"] == "shed-me-1"


def test_shedding_is_logged_once_when_it_starts_then_summarised(caplog) -> None:
    queue = AdmissionQueue(concurrency=1, queue_budget_s=0.01, max_inflight=1)
    queue.running = 1  # the count is full: every request is refused
    shed = EarlyRefusal(queue, Metrics(), summary_interval_s=0.2)
    headers = [(b"x-request-id", b"abc")]
    with caplog.at_level(logging.WARNING, logger="service.api.admission"):
        for _ in range(50):
            response = shed.refuse(headers, time.perf_counter())
            assert response is not None and response.startswith(b"HTTP/1.1 429 ") and b"x-request-id: abc" in response
        assert [r.getMessage() for r in caplog.records] == [
            "overloaded, shedding: refused 1 /rank requests at the protocol since the last such line (inflight 1); "
            "event loop lag 0.0 ms"]
        time.sleep(0.25)
        shed.refuse(headers, None)
    assert "still shedding: refused 50 /rank requests" in caplog.records[-1].getMessage()
    queue.running = 0
    assert shed.refuse(headers, None) is None  # a free slot: on to the gate
