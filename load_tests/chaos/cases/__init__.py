"""Fault cases. Each module defines `NAME` and `run(ctx: CaseContext) -> CaseResult` (see `load_tests.chaos.base`)."""
