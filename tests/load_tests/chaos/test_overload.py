"""The overload case, quick: capacity ramp, half capacity, 2x/5x/10x; refusals with Retry-After, p99 bounded."""

from __future__ import annotations

import pytest

from load_tests.chaos.cases import overload


@pytest.mark.timeout(300)
def test_overload_quick(chaos_ctx) -> None:
    result = overload.run(chaos_ctx)
    assert result.passed, result.summary
    assert result.figures["capacity_rps"] > 0 and set(result.figures["levels"]) == {"2x", "5x", "10x"}
    assert (chaos_ctx.out_dir / "overload.png").is_file()
