"""The one error type of the bundle contract."""

from __future__ import annotations

from pathlib import Path


class BundleError(Exception):
    """A bundle (or bundle root) that must not be served; `path` names the offending file or directory.

    `reason` is a short, fixed word for metrics and logs (`missing_file`, `checksum`, `dimensions`, `manifest`,
    `unreadable`, `warm_up`, `invalid`); the message says the rest.
    """

    def __init__(self, message: str, path: str | Path | None = None, reason: str = "invalid") -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.reason = reason
