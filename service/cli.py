"""`twinrank serve` (registered by offline/cli.py). Imports of the service happen inside the command."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`. Heavy imports (onnxruntime, faiss, ...) go inside the commands."""

    @app.command()
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

        from pydantic import ValidationError

        from service.bundle import BundleError, resolve
        from service.settings import load_settings

        try:
            settings = load_settings(config, bundles=bundles)
            resolve(settings.bundles)
        except (ValidationError, ValueError, BundleError) as exc:
            typer.echo(f"error: {str(exc).splitlines()[0] if isinstance(exc, BundleError) else exc}", err=True)
            raise typer.Exit(2) from None
        import uvicorn

        # Workers import the app through the factory below, so pass the resolved choices by environment.
        os.environ["TWINRANK_BUNDLES"] = str(settings.bundles)
        if config is not None:
            os.environ["TWINRANK_SETTINGS_FILE"] = str(config)
        uvicorn.run("service.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 1,
                    access_log=False)
