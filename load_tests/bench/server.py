"""Servers the benchmark starts as child processes on 127.0.0.1 (`twinrank serve`, the user-written peer of
`peer_app`, the echo server), each logging to a file and stopped by SIGINT (killed if it does not exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from load_tests.tools.server_metrics import cpu_counters


class ServerProcess:
    """A server command in a child process; its stdout and stderr go to `log_path`."""

    def __init__(self, cmd: list[str], url: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.url = url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and its children so far."""
        import psutil

        p = psutil.Process(self.proc.pid)
        procs = [p, *p.children(recursive=True)]
        return sum(sum(x.cpu_times()[:2]) for x in procs)


class Server(ServerProcess):
    """`twinrank serve` over `bundles` on 127.0.0.1:`port`."""

    def __init__(self, bundles: Path, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        exe = Path(sys.executable).parent / "twinrank"
        if not exe.exists():
            raise RuntimeError(f"the twinrank console script is not installed beside {sys.executable}")
        cmd = [str(exe), "serve", "--bundles", str(bundles), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
        super().__init__(cmd, f"http://127.0.0.1:{port}", log_path, env)

    def cpu_counters(self) -> dict[str, dict[str, float]]:
        return cpu_counters(self.url)


def peer_server(catalog: Path, model_dir: Path, port: int, log_path: Path, threads: int = 1,
                encode_threads: int = 2) -> ServerProcess:
    """The user-written FastAPI + sentence-transformers + FAISS service (`load_tests.bench.peer_app`)."""
    cmd = [sys.executable, "-m", "load_tests.bench.peer_app", "--catalog", str(catalog), "--model", str(model_dir),
           "--port", str(port), "--threads", str(threads), "--encode-threads", str(encode_threads)]
    # the serving thread budget also as the OpenMP default, for the thread pool's threads
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
           "TRANSFORMERS_VERBOSITY": "error"}
    return ServerProcess(cmd, f"http://127.0.0.1:{port}", log_path, env)


def echo_server(port: int, log_path: Path) -> ServerProcess:
    """The trivial asyncio server (`load_tests.tools.echo_server`) on 127.0.0.1:`port`."""
    cmd = [sys.executable, "-m", "load_tests.tools.echo_server", "--port", str(port)]
    return ServerProcess(cmd, f"http://127.0.0.1:{port}", log_path)


def asgi_echo_server(port: int, log_path: Path, body_bytes: int) -> ServerProcess:
    """The echo route through the service's own uvicorn stack (`service.api.echo_app`) on 127.0.0.1:`port`,
    answering every request with a fixed `body_bytes`-byte JSON body."""
    cmd = [sys.executable, "-m", "service.api.echo_app", "--port", str(port), "--body-bytes", str(body_bytes)]
    return ServerProcess(cmd, f"http://127.0.0.1:{port}", log_path)
