"""A trivial HTTP/1.1 server on raw asyncio: the yardstick for the generator's own overhead, and the
controlled peer the tests load (fixed or per-request delays, event-loop stalls, error statuses).

Run alone: `python -m load_tests.tools.echo_server --port 8765` (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Callable

BODY = json.dumps({"results": [], "timings_ms": {"noop": 0.001}}).encode()


class EchoServer:
    """Answers every request with 200 and a small JSON body, after `delay(i)` seconds (i = arrival index).

    `stall(i)` > 0 blocks the whole event loop that long (time.sleep) before answering request i: the
    server then neither reads nor accepts, as when a real worker hangs. `status(i)` picks the status code.
    `arrivals` records each request's arrival time (time.monotonic), for tests. `idle_timeout` closes
    keep-alive connections left idle that long.
    """

    def __init__(
        self,
        delay: Callable[[int], float] | None = None,
        stall: Callable[[int], float] | None = None,
        status: Callable[[int], int] | None = None,
        idle_timeout: float | None = None,
        body: Callable[[int], bytes] | None = None,
    ) -> None:
        self.delay = delay
        self.stall = stall
        self.status = status
        self.idle_timeout = idle_timeout  # close keep-alive connections idle this long (as uvicorn does)
        self.body = body
        self.arrivals: list[float] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_timeout)
                except TimeoutError:
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                i = len(self.arrivals)
                self.arrivals.append(time.monotonic())
                if self.stall is not None and (s := self.stall(i)) > 0:
                    time.sleep(s)
                if self.delay is not None and (d := self.delay(i)) > 0:
                    await asyncio.sleep(d)
                code = self.status(i) if self.status is not None else 200
                body = self.body(i) if self.body is not None else BODY
                head = f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve from a daemon thread with its own event loop; returns the bound port."""
        ready = threading.Event()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start(host, port))
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("echo server did not start")
        return self.port

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Close the listener and every open connection, then end the thread."""
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    args = ap.parse_args()
    server = EchoServer(delay=(lambda i: args.delay_ms / 1000) if args.delay_ms else None)

    async def serve() -> None:
        await server.start("127.0.0.1", args.port)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
