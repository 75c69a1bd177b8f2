"""Bench-only: the floor of HTTP through the service's own server stack (`twinrank bench --only floor`).

An ASGI app that reads each request's body and answers 200 with one fixed JSON body, served by uvicorn with the
very options `twinrank serve` uses (`uvicorn_options`: the bounded httptools protocol, keep-alive, connection limit,
logging). Its CPU per request is what HTTP costs in this stack with no routing, validation, model or JSON work:
the yardstick the benchmark holds the service's non-model CPU against. It is not mounted in the service.

Run: `python -m service.api.echo_app --port 8765 --body-bytes 1500` (loopback only).
"""

from __future__ import annotations

import argparse

from service.api.middleware import read_body
from service.api.server import uvicorn_options
from service.settings import load_settings


def fixed_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 12)."""
    head, tail = b'{"pad":"', b'"}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


class EchoApp:
    """Every HTTP request: read the body, answer 200 with `body` (application/json)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        if await read_body(receive) is None:
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--body-bytes", type=int, default=1500, help="size of the fixed response body")
    args = p.parse_args(argv)
    uvicorn.run(EchoApp(fixed_body(args.body_bytes)), host="127.0.0.1", port=args.port,
                **uvicorn_options(load_settings(), "warning"))


if __name__ == "__main__":
    main()
