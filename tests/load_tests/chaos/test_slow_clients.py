"""The slow-clients case, quick: slowloris, idle keep-alive and oversized headers are bounded, a good client is
served throughout."""

from __future__ import annotations

import pytest

from load_tests.chaos.cases import slow_clients


@pytest.mark.timeout(300)
def test_slow_clients_quick(chaos_ctx) -> None:
    result = slow_clients.run(chaos_ctx)
    assert result.passed, result.summary
    assert result.figures["slow_closed_with_408"] > 0 and result.figures["oversized_answers"].get("431", 0) > 0
