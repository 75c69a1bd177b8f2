"""Writer processes for the concurrency tests: the real `twinrank` CLI in a child process, optionally held at a
gate just before it publishes, so a test can order two writers' switches deterministically."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Runs `twinrank ARGS`; with GATE set, the first publish() call first touches GATE.reached and waits for GATE.go.
_GATED_CLI = """
import os, sys, time
from pathlib import Path
import offline.publish.index_build as ib, offline.publish.update as up
gate, publish, held = os.environ.get("GATE"), up.publish, []
def gated(*args, **kwargs):
    if gate and not held:
        held.append(1)
        Path(gate + ".reached").touch()
        while not Path(gate + ".go").exists():
            time.sleep(0.02)
    return publish(*args, **kwargs)
ib.publish = up.publish = gated
sys.argv[0] = "twinrank"
from cli.app import main
main()
"""


class Writer:
    """One `twinrank ARGS` child process (index build/update, bundle rollback) of this checkout."""

    def __init__(self, *args: str, gate: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.gate = gate
        child_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        if gate is not None:
            child_env["GATE"] = str(gate)
        self.proc = subprocess.Popen([sys.executable, "-c", _GATED_CLI, *args], cwd=REPO, env=child_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_at_gate(self, timeout: float = 180) -> None:
        """Until the writer has staged its version and waits to publish it (it read CURRENT before that)."""
        assert self.gate is not None
        deadline = time.monotonic() + timeout
        while not Path(f"{self.gate}.reached").exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"writer exited {self.proc.returncode} before its gate: {self.proc.stderr.read()}")
            assert time.monotonic() < deadline, "writer never reached its gate"
            time.sleep(0.05)

    def release(self) -> None:
        assert self.gate is not None
        Path(f"{self.gate}.go").touch()

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once it has ended."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def run_writer(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> tuple[int, str, str]:
    return Writer(*args, env=env).finish(timeout)
