"""`twinrank distill`: the offline distillation recipe and its report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
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
        from offline.errors import DataError

        def fail(message: str) -> None:
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2)

        try:
            cfg = RunConfig.from_file(config)
        except FileNotFoundError as exc:
            fail(str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            fail(f"invalid config {config}: {'.'.join(map(str, first['loc']))}: {first['msg']}")
        if not data.startswith("hf:") and not (Path(data) / "train.txt").exists():
            fail(f"--data {data} has no train.txt (expected a QADSM directory)")
        from offline.distill.stages import run_all

        try:
            run_all(data, out, cfg, only)
        except DataError as exc:
            fail(str(exc))
