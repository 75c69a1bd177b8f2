"""`twinrank distill`: the offline distillation recipe and its report (`offline.distill`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.engine import check_engine
from cli.errors import ExitCode, fail, one_line, one_line_errors


def distill(
    data: str = typer.Option(..., help="QADSM directory with train/dev/test.txt, or hf:xglue/qadsm/de"),
    out: Path = typer.Option(Path("runs/de"), help="run directory (stages resume from here)"),
    config: Path | None = typer.Option(None, help="TOML config (see configs/qadsm-de.toml)"),
    only: list[str] | None = typer.Option(None, help="run only these stages (repeatable)"),
    engine: str = typer.Option("local", "--engine", help="where the score stage's teacher passes run: local (this "
                               "process) or ray (Ray Data actors holding the teacher); the outputs are the same, "
                               "so a run may switch engines and resume"),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (default: start a "
                                           "local Ray on this machine)"),
    actors: int = typer.Option(1, "--actors", min=1, help="--engine ray: teacher actors"),
    threads_per_actor: int = typer.Option(1, "--threads-per-actor", min=1, help="--engine ray: torch threads "
                                          "(and CPUs reserved) per actor"),
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
    with one_line_errors(ExitCode.USAGE, (ValueError,)):
        check_engine(engine, ray_address)
    from offline.distill.ray_score import RayScoring
    from offline.distill.stages import run_all

    scoring = RayScoring(ray_address, actors, threads_per_actor) if engine == "ray" else None
    with one_line_errors(ExitCode.USAGE, (OfflineError,)):
        run_all(data, out, cfg, only, scoring)


def register(app: typer.Typer) -> None:
    app.command()(distill)
