"""The serve protocol's bounds over raw sockets against real uvicorn: oversized headers get 431, headers that do
not complete in time get 408, a silent connection is closed, and well-formed keep-alive traffic is untouched."""

from __future__ import annotations

import select
import socket
import time

import pytest

from tests.service.conftest import make_settings
from tests.utils.server import running_server


@pytest.fixture(scope="module")
def limited_url(_pristine_root):
    settings = make_settings(_pristine_root, header_timeout_s=0.5, max_header_bytes=4096)
    with running_server(settings) as (url, _):
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the socket timeout fails the test otherwise)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _get(path: str = "/healthz", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["one_write", "trickled"])
def test_oversized_headers_get_431_and_the_connection_closes(limited_url, chunked) -> None:
    request = _get(extra=f"X-Big: {'a' * 8000}\r\n")
    with _connect(limited_url) as sock:
        if chunked:  # 1 KiB at a time until the server answers (it does not wait for the rest)
            for i in range(0, len(request), 1024):
                if select.select([sock], [], [], 0.05)[0]:
                    break
                sock.sendall(request[i:i + 1024])
        else:
            sock.sendall(request)
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431 ") and b"over the limit of 4096 bytes" in reply


def test_headers_trickled_past_the_timeout_get_408_and_the_connection_closes(limited_url) -> None:
    with _connect(limited_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        start = time.monotonic()
        while not select.select([sock], [], [], 0.05)[0]:  # a byte every 50 ms until the server answers
            sock.sendall(b"a")
            if time.monotonic() - start > 10:
                pytest.fail("the server let a client trickle headers for 10 s")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 ") and b"not complete within 0.5 s" in reply


def test_a_connection_that_never_sends_is_closed_without_an_answer(limited_url) -> None:
    with _connect(limited_url) as sock:
        reply = _read_all(sock)  # returns once the server closed it (the socket's 10 s timeout fails otherwise)
    assert reply == b""  # an unasked-for 408 would be read as the answer to the client's first request


def test_keep_alive_requests_on_one_connection_are_served(limited_url) -> None:
    with _connect(limited_url) as sock:
        for _ in range(3):
            sock.sendall(_get())
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)  # idle between requests, each pause shorter than the header timeout
        time.sleep(0.4)  # past the header timeout since the last request: an idle keep-alive, not a slow request
        sock.sendall(_get())
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200 ")
