"""The soak case, quick: 15 s at 30 req/s against a real `twinrank serve` on a 200-ad bundle, RSS and fds sampled."""

from __future__ import annotations

import pytest

from load_tests.chaos.base import CaseContext
from load_tests.chaos.cases import soak


def test_soak_quick(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = soak.run(CaseContext(workdir=tmp_path / "work", out_dir=out, quick=True))
    print(result.summary, *result.details, sep="\n")
    assert result.figures["samples"] >= 20  # every 0.5 s over 15 s
    assert result.figures["ok"] == 450 and result.figures["rss_start_mib"] > 50
    assert all((out / p).stat().st_size > 1000 for p in result.plots)
    assert result.passed, result.summary


def test_growth_fits_a_line_through_the_samples():
    import numpy as np

    t = np.arange(10.0)
    assert soak.growth(t, 100 + 2 * t) == pytest.approx((2.0, 18.0))
    assert soak.growth(t, 100 + np.array([0, 1] * 5))[1] < 1.0  # noise around a flat line is not growth
    assert soak.growth(t[:2], t[:2]) == (0.0, 0.0)
