"""What the admission and client-limit cases share: the bundle they serve and `twinrank serve` in a child process.

The bundle is `ctx.workdir / "bundles"` when the caller put one there (CI copies the tiny test bundle in); else
the embedded default bundle (shipped student, sample catalog, no torch) is built there. The server runs as the
operator runs it, `python -m cli serve`, in its own process: a load generator sharing its interpreter would
share its GIL, and limits set by the serve command (header timeout, connection limits) would not be tested.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from load_tests.chaos.serving import Serve

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
           ready_timeout_s: float = 120) -> Iterator[Serve]:
    """`python -m cli serve` over `bundles` on 127.0.0.1 and a free port, not watching for new versions, logging
    at info; ready (GET /readyz 200) when yielded, stopped by SIGINT afterwards. TWINRANK_* settings from `env`."""
    server = Serve(bundles, log_path, watch_interval_s=0, log_level="info",
                   env={"TWINRANK_RELOAD_ENABLED": "false", **(env or {})})
    try:
        server.wait_ready(ready_timeout_s)
        yield server
    finally:
        server.stop()
