"""The swap-under-load case, quick: a 200-ad bundle of the shipped student served by a real `twinrank serve`,
three swaps under 30 req/s of open-loop load."""

from __future__ import annotations

import pytest

from load_tests.chaos.base import CaseContext
from load_tests.chaos.cases import swap_under_load


def test_swap_under_load_quick(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = swap_under_load.run(CaseContext(workdir=tmp_path / "work", out_dir=out, quick=True))
    print(result.summary, *result.details, sep="\n")
    details = "\n".join(result.details)
    assert "never seen" not in result.summary, result.summary  # all three swaps reached the server
    assert details.count("| yes |") == 3
    assert (out / result.plots[0]).stat().st_size > 1000
    if not result.passed:
        # 0 failed and p99 ≤ 2× steady in the swap's seconds is the seamless-swap work's target (issue 15); until it
        # is merged a swap costs p99 (and under CPU contention, timeouts), which this case measures and reports.
        # Remove this once it holds.
        pytest.xfail(result.summary)
