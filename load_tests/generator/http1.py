"""A minimal HTTP/1.1 keep-alive client on raw asyncio streams, for the load generator.

httpx costs a few hundred µs of CPU per request; on a 2-core machine that shares its cores with the
server, that overhead would cap the offered rate. This client writes a pre-built request and parses
only the status line, Content-Length / chunked framing and `Connection: close`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class ProtocolError(Exception):
    """The server's reply is not HTTP/1.1 this client can frame."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str, path: str = "/rank") -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must look like http://HOST:PORT, got {url!r}")
        base = parts.path.rstrip("/")
        return cls(parts.hostname, parts.port or 80, (base + path) if path.startswith("/") else path)

    def post_head(self, length: int) -> bytes:
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode("ascii")

    def get_request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode("ascii")


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request; return (status, body, keep_alive)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise ProtocolError(f"bad status line {lines[0][:60]!r}") from exc
        length = None
        chunked = False
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        if chunked:
            body = await self._read_chunked()
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read()
            keep_alive = False
        return status, body, keep_alive

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class Pool:
    """Keep-alive connections to one target; opens a new one whenever none is idle, up to `max_conns`.

    A request never waits for an earlier one to finish unless `max_conns` are all busy; that wait then
    shows up in its latency, because latency is measured from the scheduled time.
    """

    def __init__(self, target: Target, max_conns: int = 512) -> None:
        self.target = target
        self.max_conns = max_conns
        self.idle: list[Connection] = []
        self.n_open = 0
        self._free = asyncio.Condition()
        self.waiting = 0

    def _pop_live(self) -> Connection | None:
        """The most recently used idle connection the server has not closed (uvicorn drops idle
        keep-alive connections after a few seconds; writing into one would be a spurious reset)."""
        while self.idle:
            conn = self.idle.pop()
            if not (conn.reader.at_eof() or conn.writer.is_closing()):
                return conn
            conn.close()
            self.n_open -= 1
        return None

    async def acquire(self) -> Connection:
        if (conn := self._pop_live()) is not None:
            return conn
        if self.n_open >= self.max_conns:
            self.waiting += 1
            try:
                async with self._free:
                    await self._free.wait_for(lambda: bool(self.idle) or self.n_open < self.max_conns)
            finally:
                self.waiting -= 1
            if (conn := self._pop_live()) is not None:
                return conn
        self.n_open += 1
        try:
            reader, writer = await asyncio.open_connection(self.target.host, self.target.port, limit=1 << 20)
        except BaseException:
            self.n_open -= 1
            raise
        return Connection(reader, writer)

    async def release(self, conn: Connection, reusable: bool) -> None:
        if reusable:
            self.idle.append(conn)
        else:
            conn.close()
            self.n_open -= 1
        if self.waiting:
            async with self._free:
                self._free.notify()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
