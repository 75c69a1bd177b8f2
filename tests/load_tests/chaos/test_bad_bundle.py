"""The `bad_bundle` fault case, quick version: a real `twinrank serve` on a 40-ad bundle of the shipped student,
every kind of broken version published under traffic."""

from __future__ import annotations

from pathlib import Path

from load_tests.chaos.base import CaseContext
from load_tests.chaos.broken_bundles import BREAKAGES
from load_tests.chaos.cases import bad_bundle


def test_bad_bundle_quick(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    result = bad_bundle.run(CaseContext(workdir=tmp_path / "work", out_dir=tmp_path / "out", quick=True))
    assert result.passed, (result.summary, result.details, result.figures)
    figures = result.figures
    assert set(figures["kinds"]) == set(BREAKAGES)
    assert figures["failed_requests"] == 0 and figures["requests"] > 0
    assert figures["refusals_in_metrics"] == len(BREAKAGES)
    assert figures["good_version_loaded_as"] == ["same_model"]
    assert (tmp_path / "out" / "bad_bundle.png").is_file()
