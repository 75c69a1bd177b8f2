import subprocess
import sys
import threading

from load_tests.chaos.base import CaseContext, CaseResult

NAME = "hang"
TIMEOUT_S = (1.5, 1.5)
STARTED: list[subprocess.Popen] = []


def run(ctx: CaseContext) -> CaseResult:
    """Starts a child that never ends and waits for it forever (a server that never comes up)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    STARTED.append(child)
    threading.Event().wait()
    return CaseResult(name=NAME, passed=True, summary="unreachable")
