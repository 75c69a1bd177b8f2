"""Commands of this area for the `twinrank` CLI (registered by offline/cli.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`. Heavy imports (torch, onnxruntime, ...) go inside the commands."""
