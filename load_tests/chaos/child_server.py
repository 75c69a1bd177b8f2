"""What the admission and client-limit cases share: the bundle they serve and `twinrank serve` in a child process.

The bundle is `ctx.workdir / "bundles"` when the caller put one there (CI copies the tiny test bundle in); else
the embedded default bundle (shipped student, sample catalog, no torch) is built there. The server runs as the
operator runs it, `python -m cli serve`, in its own process: a load generator sharing its interpreter would
share its GIL, and limits set by the serve command (header timeout, connection limits) would not be tested.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from common.net import free_port
from load_tests.bench.server import ServerProcess

QUICK_ADS = 300
FULL_ADS = 3000


def bundle_root(workdir: Path, quick: bool) -> Path:
    root = workdir / "bundles"
    if (root / "CURRENT").exists():
        return root
    from offline.publish.default_bundle import build_default_bundle

    build_default_bundle(root, n_ads=QUICK_ADS if quick else FULL_ADS, threads=1)
    return root


@contextlib.contextmanager
def served(bundles: Path, log_path: Path, env: dict[str, str] | None = None,
           ready_timeout_s: float = 120) -> Iterator[ServerProcess]:
    """`python -m cli serve` over `bundles` on 127.0.0.1 and a free port, ready (GET /readyz 200) when yielded;
    stopped by SIGINT afterwards. TWINRANK_* settings come from `env`."""
    port = free_port()
    cmd = [sys.executable, "-m", "cli", "serve", "--bundles", str(bundles), "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "info"]
    base = {"TWINRANK_WATCH_INTERVAL_S": "0", "TWINRANK_RELOAD_ENABLED": "false", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH")]))}
    server = ServerProcess(cmd, f"http://127.0.0.1:{port}", log_path, {**base, **(env or {})})
    try:
        wait_ready(server, ready_timeout_s)
        yield server
    finally:
        server.stop()


def wait_ready(server: ServerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"twinrank serve exited with {server.proc.returncode}; log: {server.log_path}")
        try:
            with urllib.request.urlopen(server.url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"twinrank serve not ready after {timeout_s:.0f} s; log: {server.log_path}")
