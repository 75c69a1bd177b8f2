"""The `twinrank` root command: each area's commands registered on one typer app."""

from __future__ import annotations

import typer

from cli import bench, chaos, distill, evaluate, load, publish, replay, serve

app = typer.Typer(no_args_is_help=True, add_completion=False, help="twinrank: distil, export, index, serve, load-test.")


@app.callback()
def _root() -> None:
    """twinrank: distil, export, index, serve, load-test."""


for area in (distill, publish, evaluate, replay, serve, load, bench, chaos):
    area.register(app)


def main() -> None:
    app()
