from load_tests.chaos.base import CaseContext, CaseResult

NAME = "boom"


def run(ctx: CaseContext) -> CaseResult:
    raise RuntimeError("server never came up | port 1234")
