"""How a `twinrank` command fails: one line on stderr (`error: …`, naming the file, row, field or option),
never a traceback, and an exit code saying which kind of failure it was. The one place errors become exit
codes; anything not listed as expected is a bug and keeps its traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import IntEnum
from typing import NoReturn

import typer

from offline.errors import OfflineError, PublishConflict
from service.bundle.errors import BundleError


class ExitCode(IntEnum):
    FAILED = 1  # offline work refused its input or failed a check: a catalog row, a damaged bundle, parity
    USAGE = 2  # a run that could not start: options, config, data directory, a target that is not ready
    CONFLICT = 3  # another writer switched the bundle root's CURRENT first; nothing was published (run again)


# What the offline commands (export, index, bundle) expect to fail with.
OFFLINE_ERRORS: tuple[type[BaseException], ...] = (OfflineError, BundleError, ValueError, FileNotFoundError,
                                                   PermissionError)
# What the runs (distill, serve, loadtest, ab, bench) expect to fail with before or while they start.
RUN_ERRORS: tuple[type[BaseException], ...] = (OfflineError, BundleError, ValueError, FileNotFoundError,
                                               TimeoutError)


def one_line(exc: BaseException) -> str:
    """The message of an expected error on one line: a pydantic error as `field: message`."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def fail(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def one_line_errors(code: ExitCode, expected: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Turn an expected error raised in the block into `error: <one line>` and exit `code` (a lost race for
    `CURRENT` exits `ExitCode.CONFLICT`)."""
    try:
        yield
    except expected as exc:
        fail(one_line(exc), ExitCode.CONFLICT if isinstance(exc, PublishConflict) else code)
