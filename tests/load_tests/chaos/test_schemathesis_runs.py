"""The schemathesis case, quick: generated and stateful calls over every endpoint of `twinrank serve`, no 5xx."""

from __future__ import annotations

import pytest

from load_tests.chaos.cases import schemathesis_runs


@pytest.mark.timeout(300)
def test_schemathesis_quick(chaos_ctx) -> None:
    result = schemathesis_runs.run(chaos_ctx)
    assert result.passed, (result.summary, result.details)
    assert {"POST /rank", "GET /readyz", "POST /admin/reload"} <= set(result.figures["statuses"])
