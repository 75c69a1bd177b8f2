"""Scratch directories beside the bundle versions, and sweeping up the ones a killed writer left behind.

Every scratch name is `.tmp-<pid>-<start>-<pidns>-<ns>[-<what>]`: the writer's pid, its start time (clock ticks
since boot, from /proc) and its pid namespace, so a directory whose writer is gone is recognised even after the
pid was reused. A writer sweeps stale ones before it stages, so killed writers' leftovers never accumulate. A
directory made in another pid namespace (another container sharing the volume) cannot be checked from here:
it is swept only once it is `FOREIGN_STALE_S` old.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

TMP_PREFIX = ".tmp-"
_UNKNOWN_START = "0"  # no /proc (not Linux): liveness falls back to the pid alone
_HAVE_PROC = Path("/proc/self/stat").exists()
FOREIGN_STALE_S = 24 * 3600


def _pid_namespace() -> str:
    try:
        return "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit()) or _UNKNOWN_START
    except OSError:
        return _UNKNOWN_START


_PID_NAMESPACE = _pid_namespace()


def process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot; None if it is gone (or a zombie)."""
    if not _HAVE_PROC:
        return _UNKNOWN_START if _pid_exists(pid) else None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _UNKNOWN_START
    # the command name (field 2) may hold spaces and parentheses; state is field 3, starttime field 22
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def writer_token() -> str:
    """`<pid>-<start>-<pid namespace>` of this process."""
    pid = os.getpid()
    return f"{pid}-{process_start(pid) or _UNKNOWN_START}-{_PID_NAMESPACE}"


def scratch_path(root: Path, what: str = "") -> Path:
    """A fresh name under `root` that marks this process as its owner (nothing is created)."""
    return root / f"{TMP_PREFIX}{writer_token()}-{time.time_ns()}{'-' + what if what else ''}"


def new_staging_dir(root: str | Path) -> Path:
    """A fresh temporary directory beside the versions (same filesystem, so the final rename is atomic)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(root)
    tmp = scratch_path(root)
    tmp.mkdir()
    return tmp


def owner_alive(path: Path) -> bool:
    """Whether the writer named in a scratch name (`.tmp-<pid>-<start>-<pidns>-…`, the older `.tmp-<pid>-<ns>`,
    or `CURRENT.tmp-…`) may still run; names that are not ours count as alive (never swept)."""
    parts = path.name.split(".tmp-", 1)[-1].split("-")
    if not parts[0].isdigit():
        return True
    namespace = parts[2] if len(parts) >= 4 and parts[2].isdigit() else _UNKNOWN_START
    if _UNKNOWN_START not in (namespace, _PID_NAMESPACE) and namespace != _PID_NAMESPACE:  # another container's
        try:
            return time.time() - path.lstat().st_mtime < FOREIGN_STALE_S
        except FileNotFoundError:
            return True
    start = process_start(int(parts[0]))
    if start is None:
        return False
    recorded = parts[1] if len(parts) >= 3 and parts[1].isdigit() else _UNKNOWN_START
    return _UNKNOWN_START in (recorded, start) or recorded == start


def clean_stale_staging(root: Path) -> list[Path]:
    """Remove scratch directories and pointer temp files whose writer is gone (left by a crash or kill)."""
    removed = []
    for p in [*root.glob(f"{TMP_PREFIX}*"), *root.glob(f"CURRENT{TMP_PREFIX}*")]:
        if not owner_alive(p):
            remove_tree(p)
            removed.append(p)
    return removed


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
