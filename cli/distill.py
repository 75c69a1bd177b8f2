"""`twinrank distill`: the offline distillation recipe and its report (`offline.distill`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import ExitCode, fail, one_line, one_line_errors


def distill(
    data: str = typer.Option(..., help="QADSM directory with train/dev/test.txt, or hf:xglue/qadsm/de"),
    out: Path = typer.Option(Path("runs/de"), help="run directory (stages resume from here)"),
    config: Path | None = typer.Option(None, help="TOML config (see configs/qadsm-de.toml)"),
    only: list[str] | None = typer.Option(None, help="run only these stages (repeatable)"),
) -> None:
    """Fine-tune the teacher, score labelled + unlabelled pairs, distil and fine-tune the TwinBERT student,
    calibrate it, train the comparison models and write the report (metrics.json, report.md, plots)."""
    from pydantic import ValidationError

    from offline.distill.config import RunConfig
    from offline.errors import OfflineError

    try:
        cfg = RunConfig.from_file(config)
    except ValidationError as exc:
        fail(f"invalid config {config}: {one_line(exc)}", ExitCode.USAGE)
    except FileNotFoundError as exc:
        fail(one_line(exc), ExitCode.USAGE)
    if not data.startswith("hf:") and not (Path(data) / "train.txt").exists():
        fail(f"--data {data} has no train.txt (expected a QADSM directory)", ExitCode.USAGE)
    from offline.distill.stages import run_all

    with one_line_errors(ExitCode.USAGE, (OfflineError,)):
        run_all(data, out, cfg, only)


def register(app: typer.Typer) -> None:
    app.command()(distill)
