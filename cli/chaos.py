"""`twinrank chaos`: the fault campaign (`load_tests.chaos`), its report in `--out`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.errors import ExitCode, fail, one_line_errors


def chaos(
    quick: bool = typer.Option(False, "--quick", help="The short CI version of every case (tiny bundles, seconds)."),
    only: str = typer.Option("", help="Comma-separated cases to run (default: all, in campaign order)."),
    out: Path = typer.Option(Path("reports/reliability"), help="Report folder: results.json, report.md, plots."),
    seed: int = typer.Option(0),
    case_timeout: float | None = typer.Option(None, "--case-timeout", min=1, help="Seconds a case may run before "
                                              "it fails and its processes are killed (default: each case's own)."),
) -> None:
    """Run the fault campaign (writers killed or racing, bad bundles, swaps under load, overload, soak, ...)
    and write its report; exits 1 when a case failed."""
    from cli.load import portable_command
    from load_tests.chaos.runner import run_campaign

    with one_line_errors(ExitCode.USAGE, (ValueError,)):
        doc = run_campaign(out, quick=quick, only=only or None, seed=seed, case_timeout_s=case_timeout,
                           log=lambda line: typer.echo(line, err=True),
                           command=portable_command("chaos", sys.argv[2:]))
    line = f"{doc['passed']} passed, {doc['failed']} failed, {len(doc['skipped'])} not present ({out / 'report.md'})"
    if doc["failed"]:
        names = ", ".join(c["name"] for c in doc["cases"] if not c["passed"])
        fail(f"{line}; failed: {names}", ExitCode.FAILED)
    typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)
