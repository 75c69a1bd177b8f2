"""`twinrank serve`: the service over a bundle root. The service is imported inside the command."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import RUN_ERRORS, ExitCode, one_line_errors


def serve(
    bundles: Path = typer.Option(Path("bundles"), help="bundle root (with CURRENT) or one version directory"),
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes (each loads the bundle)"),
    config: Path | None = typer.Option(None, help="settings file (TOML or JSON); TWINRANK_* env vars win"),
    log_level: str = typer.Option("info"),
) -> None:
    """Serve POST /rank over the current bundle (hot-reloads when CURRENT changes)."""
    import os

    from service.bundle import resolve
    from service.settings import load_settings

    with one_line_errors(ExitCode.USAGE, RUN_ERRORS):
        settings = load_settings(config, bundles=bundles)
        resolve(settings.bundles)
    import uvicorn

    from service.api.server import uvicorn_options

    # Workers import the app through the factory below, so pass the resolved choices by environment.
    os.environ["TWINRANK_BUNDLES"] = str(settings.bundles)
    if config is not None:
        os.environ["TWINRANK_SETTINGS_FILE"] = str(config)
    uvicorn.run("service.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                **uvicorn_options(settings, log_level))


def register(app: typer.Typer) -> None:
    app.command()(serve)
