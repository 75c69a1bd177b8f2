"""The writer_kill fault case, short: SIGKILLed builds and updates never break CURRENT or leave temp dirs."""

from __future__ import annotations

from pathlib import Path

from load_tests.chaos.base import CaseContext
from load_tests.chaos.cases import writer_kill


def test_writer_kill_quick(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    r = writer_kill.run(CaseContext(workdir=tmp_path / "work", out_dir=tmp_path / "out", quick=True, seed=0))
    assert r.passed, (r.summary, r.details)
    assert r.figures["kills"] >= 3 and r.figures["leftover_tmp_dirs"] == 0
    assert (tmp_path / "out" / r.plots[0]).is_file()
