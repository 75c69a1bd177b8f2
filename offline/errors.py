"""The one error root of `offline/`: every expected failure (bad data, a bad catalog row, an export that
cannot proceed) is an `OfflineError`, so the CLI maps them to one-line messages and exit codes in one place
(`cli/errors.py`), as `service/errors.py` does for the service. Messages name the file, row or column."""

from __future__ import annotations


class OfflineError(Exception):
    """An expected offline failure; the message says what and where, without a traceback."""


class DataError(OfflineError, ValueError):
    """Malformed QADSM input; the message names the file and line (`path`, `line` and `reason` are kept)."""

    def __init__(self, message: str, path: object = None, line: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path, self.line, self.reason = path, line, reason or message


class CatalogError(OfflineError, ValueError):
    """A catalog that cannot be used; the message names file, row and column."""


class ClusterError(OfflineError, ValueError):
    """A Ray cluster that cannot run the job as asked (too few CPUs for the actor pool)."""


class ExportError(OfflineError, RuntimeError):
    """An export that cannot proceed or failed its parity check."""


class PublishConflict(OfflineError):
    """`CURRENT` no longer names the version a writer started from, and the writer may not replace it (a build
    without --force, a rollback with --from, an update that kept losing its rebase): nothing was published."""

    def __init__(self, message: str, current: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.current, self.expected = current, expected


class DiskFullError(OfflineError):
    """The bundle root's filesystem ran out of space while a version was staged: nothing was published."""
