"""A real HTTP server on 127.0.0.1 per test (load_tests.tools.echo_server) with controllable delays and stalls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.net import free_port
from load_tests.tools.echo_server import EchoServer


@pytest.fixture
def echo() -> Iterator:
    """Factory: `echo(delay=..., stall=..., status=...)` → (server, "http://127.0.0.1:PORT")."""
    servers: list[EchoServer] = []

    def start(**kwargs) -> tuple[EchoServer, str]:
        server = EchoServer(**kwargs)
        port = server.start_in_thread()
        servers.append(server)
        return server, f"http://127.0.0.1:{port}"

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    return free_port()
