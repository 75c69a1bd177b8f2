"""The disk_full fault case, short: ENOSPC while publishing (a build on a real tmpfs where the machine allows one,
an update under the writer's test-only injection) is refused in one line, with the previous version intact."""

from __future__ import annotations

from pathlib import Path

from load_tests.chaos.base import CaseContext
from load_tests.chaos.cases import disk_full


def test_disk_full_quick(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    r = disk_full.run(CaseContext(workdir=tmp_path / "work", out_dir=tmp_path / "out", quick=True))
    assert r.passed, (r.summary, r.details)
    assert "injected" in r.figures["methods"] and r.figures["trials"] == 2
    assert r.figures["failed_cleanly"] >= 1 and r.figures["sigbus_or_traceback"] == 0
    assert r.figures["leftover_tmp_dirs"] == 0 and r.figures["next_run_ok"] == 2
    assert (tmp_path / "out" / r.plots[0]).is_file()
