"""Real uvicorn on 127.0.0.1 and a free port, in a background thread, for tests that need real HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from common.net import free_port
from service.api.app import create_app
from service.api.server import uvicorn_options
from service.settings import Settings


@contextlib.contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, uvicorn.Server]]:
    port = free_port()
    # the serve command's connection limits and protocol; logging stays pytest's (caplog reads the records)
    options = {**uvicorn_options(settings, "warning"), "log_config": None, "timeout_graceful_shutdown": 10}
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
