"""The concurrent_writers fault case, short: three updates and a build at once, no change lost, the loser told."""

from __future__ import annotations

from pathlib import Path

from load_tests.chaos.base import CaseContext
from load_tests.chaos.cases import concurrent_writers


def test_concurrent_writers_quick(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    r = concurrent_writers.run(CaseContext(workdir=tmp_path / "work", out_dir=tmp_path / "out", quick=True))
    assert r.passed, (r.summary, r.details)
    assert r.figures["writers"] == 4 and r.figures["lost_changes"] == 0
    assert r.figures["published"] + r.figures["refused_conflict"] == 4  # each writer published or was told
    assert r.figures["published"] >= 3  # every update lands (rebasing if it must); only a build may be refused
    assert (tmp_path / "out" / r.plots[0]).is_file()
