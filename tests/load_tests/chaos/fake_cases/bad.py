from load_tests.chaos.base import CaseContext, CaseResult

NAME = "bad"


def run(ctx: CaseContext) -> CaseResult:
    return CaseResult(name=NAME, passed=False, summary=f"3 failed requests (quick={ctx.quick})",
                      figures={"failed": 3})
