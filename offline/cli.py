"""The `twinrank` command. Each area registers its own commands; none imports torch at module level,
so `twinrank serve` and `twinrank loadtest` work in an install without the offline extras."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="twinrank: distil, export, index, serve, load-test.")


@app.callback()
def _root() -> None:
    """twinrank: distil, export, index, serve, load-test."""


def _register_all() -> None:
    from load_tests.cli import register as register_load
    from offline.cli_bundle import register as register_bundle
    from offline.cli_distill import register as register_distill
    from service.cli import register as register_service

    for register in (register_distill, register_bundle, register_service, register_load):
        register(app)


_register_all()


def main() -> None:
    app()
