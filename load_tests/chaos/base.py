"""What every fault case takes and returns, so the runner and the report treat all cases alike.

A case module under `load_tests/chaos/cases/` defines `NAME: str` and `run(ctx: CaseContext) -> CaseResult`.
It works only inside `ctx.workdir` (a fresh directory), writes its plots into `ctx.out_dir` and names them in
`CaseResult.plots`. `ctx.quick` asks for the short version CI runs on tiny bundles (seconds, not minutes);
the full version is what `reports/reliability/` commits. A case never raises for a failed expectation: it
returns `passed=False` with the reason in `summary`, so one broken case does not hide the others.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

Figure = float | int | str | bool | None | list | dict


class CaseContext(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    workdir: Path
    out_dir: Path
    quick: bool = True
    seed: int = 0


class CaseResult(BaseModel):
    name: str
    passed: bool
    summary: str = Field(description="one line: what was done and what was seen")
    figures: dict[str, Figure] = Field(default_factory=dict)
    plots: list[str] = Field(default_factory=list, description="file names inside the report folder")
    details: list[str] = Field(default_factory=list, description="per-trial lines for the Markdown report")
    seconds: float = 0.0
