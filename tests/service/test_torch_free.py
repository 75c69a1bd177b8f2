"""The serving side installs and runs without torch: importing the app and the serve command must not need it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
import cli.app, service.api.app, service.main, service.ranker.ranker
from typer.testing import CliRunner
assert CliRunner().invoke(cli.app.app, ["serve", "--help"]).exit_code == 0
bad = [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]
assert not bad, bad
"""


def test_service_imports_without_torch() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
