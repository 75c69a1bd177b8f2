from load_tests.chaos.base import CaseContext, CaseResult

NAME = "good"


def run(ctx: CaseContext) -> CaseResult:
    assert not any(ctx.workdir.iterdir()), "the workdir must be fresh"
    (ctx.workdir / "scratch").write_text("x")
    (ctx.out_dir / "good_plot.png").write_bytes(b"\x89PNG fake")
    return CaseResult(name=NAME, passed=True, summary="all fine", figures={"p99_ratio": 1.25, "failed": 0},
                      plots=["good_plot.png"], details=["- trial 1: ok"])
