"""The one error type of the bundle contract."""

from __future__ import annotations

from pathlib import Path


class BundleError(Exception):
    """A bundle (or bundle root) that must not be served; `path` names the offending file or directory."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None
