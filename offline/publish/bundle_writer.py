"""Atomic publishing of bundle versions: build in a temporary sibling directory, fsync, rename, then switch
`CURRENT` by an atomic rename. Keeps the last N versions; rollback moves `CURRENT` back one version.

A crash or kill at any point leaves `CURRENT` naming a complete, untouched version: existing version
directories are never written to, and `CURRENT` changes only by `os.replace`.

Publishing is compare-and-swap on `CURRENT`: a writer names the version it started from (`parent`) and its
version is switched in only if `CURRENT` still names it, checked under the root lock that every switch takes.
Otherwise `PublishConflict` is raised and nothing is published; an update then rebases, a build or a guarded
rollback reports the conflict (see `offline.publish.update`, `cli.publish`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from offline.errors import DiskFullError, PublishConflict
from offline.publish.staging import TMP_PREFIX, clean_stale_staging, new_staging_dir, remove_tree, scratch_path
from service.bundle import (
    CURRENT_NAME,
    MANIFEST_NAME,
    BundleError,
    Manifest,
    read_current,
    sha256_file,
    verify_files,
    version_dirs,
    version_seq,
)

LOCK_NAME = ".lock"
ROLLED_BACK_NAME = "ROLLED_BACK"  # versions rolled back from, one per line; rollback never returns to them
DEFAULT_KEEP = 3
# Test-only fault injection (the disk_full chaos case and its tests): staging fails with ENOSPC once the files
# staged so far exceed this many bytes. Unset in any real run.
TEST_ENOSPC_ENV = "TWINRANK_TEST_ENOSPC_AFTER_BYTES"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def root_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the bundle root for naming, renaming and pointer switches (not the long build)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_dir(root: str | Path) -> Iterator[Path]:
    """A fresh staging directory for one writer: removed whatever goes wrong inside the block (a renamed,
    published one is no longer there to remove), and a full disk reported as `DiskFullError`."""
    root = Path(root)
    sweep(root)
    staging = new_staging_dir(root)
    try:
        yield staging
    except OSError as e:
        remove_tree(staging)
        if e.errno not in _DISK_FULL:
            raise
        where = e.filename2 or e.filename or staging  # a copy names its source first
        raise DiskFullError(f"no space left on device under {root} (writing {where}): nothing published, "
                            f"CURRENT still names {read_current(root)}") from e
    except BaseException:
        remove_tree(staging)
        raise


def sweep(root: Path) -> list[Path]:
    """What killed writers left: scratch dirs of dead processes, and versions a writer renamed into place but
    died before switching CURRENT to (newer than CURRENT and never rolled back from). Taken under the root
    lock: a live writer holds it from its rename to its switch, so an unswitched version seen here is dead."""
    if not root.is_dir():
        return []
    with root_lock(root):
        current = read_current(root)
        orphans = []
        if current is not None:
            seq, rolled_back = version_seq(current) or 0, rolled_back_versions(root)
            orphans = [p for p in version_dirs(root) if (version_seq(p.name) or 0) > seq and p.name not in rolled_back]
        retired = _retire(orphans)
    _remove(retired)
    return [*orphans, *clean_stale_staging(root)]


def enospc_for_tests(staging: Path) -> None:
    """Test-only: fail like a full disk once the files staged exceed `TWINRANK_TEST_ENOSPC_AFTER_BYTES`."""
    limit = os.environ.get(TEST_ENOSPC_ENV)
    if limit is None or not staging.is_dir():
        return
    used = sum(p.stat().st_size for p in staging.iterdir() if p.is_file())
    if used > int(limit):
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected by {TEST_ENOSPC_ENV})", str(staging))


def publish(staging: Path, manifest_fields: dict, *, parent: str | None, force: bool = False,
            keep: int = DEFAULT_KEEP, verify: bool = True) -> Path:
    """Seal `staging` (checksums + manifest), rename it to the next version, switch CURRENT, prune.

    Args:
        staging: a directory from `new_staging_dir` holding every bundle file but the manifest.
        manifest_fields: the Manifest fields except bundle_version, created_at, files and parent_version.
        parent: the version CURRENT named when the writer started (None: no CURRENT yet). The new version is
            switched in only if CURRENT still names it; otherwise `PublishConflict`, nothing published.
        force: switch in whatever CURRENT names now (a build meant to replace the lot).
        keep: how many versions to keep (the current one is always kept).
    Returns:
        The published version directory. Its manifest's `parent_version` is the version it replaced.
    """
    root = staging.parent
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file() and p.name != MANIFEST_NAME}
    for name in files:
        fsync_file(staging / name)
    enospc_for_tests(staging)
    with root_lock(root):
        current = read_current(root)
        if current != parent and not force:
            raise PublishConflict(f"{root / CURRENT_NAME}: names {current}, not {parent} that this writer started "
                                  "from; nothing published", current=current, expected=parent)
        seq = max((version_seq(p.name) or 0 for p in version_dirs(root)), default=0) + 1
        now = datetime.now(UTC)
        name = f"v{seq:06d}-{now:%Y%m%dT%H%M%SZ}"
        manifest = Manifest.model_validate({**manifest_fields, "bundle_version": name, "parent_version": current,
                                            "created_at": now.isoformat(timespec="seconds"), "files": files})
        (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        fsync_file(staging / MANIFEST_NAME)
        fsync_dir(staging)
        if verify:
            from service.runtime.bundle_check import verify_bundle  # ONNX Runtime + FAISS, only when publishing

            verify_bundle(staging)
        target = root / name
        os.rename(staging, target)
        fsync_dir(root)
        try:
            switch_current(root, name)
        except BaseException:
            with contextlib.suppress(OSError):  # back to staging, which the writer removes; else `sweep` will
                os.rename(target, staging)
            raise
        retired = _retire(_prunable(root, keep))
    _remove(retired)
    return target


def switch_current(root: Path, name: str) -> None:
    """Point CURRENT at `name` by writing a temporary file and renaming it over CURRENT (under the root lock)."""
    if not (root / name / MANIFEST_NAME).is_file():
        raise BundleError(f"{root / name}: not a complete bundle version", root / name)
    tmp = root / f"{CURRENT_NAME}{scratch_path(root).name}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, root / CURRENT_NAME)
    except BaseException:
        remove_tree(tmp)
        raise
    fsync_dir(root)


def prune(root: Path, keep: int) -> list[Path]:
    """Delete the oldest versions beyond `keep`; never the current one or anything newer than it."""
    with root_lock(root):
        victims = _prunable(root, keep)
        retired = _retire(victims)
    _remove(retired)
    return victims


def _prunable(root: Path, keep: int) -> list[Path]:
    keep = max(keep, 1)
    current = read_current(root)
    versions = version_dirs(root)
    out = []
    for p in versions[: max(len(versions) - keep, 0)]:
        if p.name == current:
            continue
        if current is not None and (version_seq(p.name) or 0) > (version_seq(current) or 0):
            continue
        out.append(p)
    return out


def _retire(versions: list[Path]) -> list[Path]:
    """Rename versions to scratch names (quick, under the lock): a kill during the slow delete that follows
    leaves a `.tmp-` directory the next writer sweeps, never a half-deleted version."""
    retired = []
    for p in versions:
        dst = scratch_path(p.parent, f"old-{p.name}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(p, dst)
            retired.append(dst)
    return retired


def _remove(paths: list[Path]) -> None:
    for p in paths:
        remove_tree(p)


def rollback(root: str | Path, expect_current: str | None = None) -> str:
    """Switch CURRENT to the newest valid version older than the current one; returns its name."""
    return rollback_switch(root, expect_current)[1]


def rollback_switch(root: str | Path, expect_current: str | None = None) -> tuple[str, str]:
    """`rollback`, returning (the version rolled back from, the version CURRENT now names).

    The version rolled back from is remembered in ROLLED_BACK, so a later rollback (after a newer build)
    skips it instead of going back to the version that was just abandoned. With `expect_current`, roll back
    only if CURRENT still names that version (its full name, or its `vNNNNNN` prefix); else `PublishConflict`.
    """
    root = Path(root)
    with root_lock(root):
        current = read_current(root)
        if current is None:
            raise BundleError(f"{root / CURRENT_NAME}: missing, nothing to roll back", root / CURRENT_NAME)
        if expect_current is not None and expect_current not in (current, current.split("-", 1)[0]):
            raise PublishConflict(f"{root / CURRENT_NAME}: names {current}, not {expect_current}: it changed since; "
                                  "nothing rolled back", current=current, expected=expect_current)
        cur_seq = version_seq(current) or 0
        rolled_back = rolled_back_versions(root)
        older = [p for p in version_dirs(root) if (version_seq(p.name) or 0) < cur_seq and p.name not in rolled_back]
        errors = []
        for p in reversed(older):
            try:
                verify_files(p)
            except BundleError as e:
                errors.append(str(e))
                continue
            with open(root / ROLLED_BACK_NAME, "a", encoding="utf-8") as f:
                f.write(current + "\n")
                f.flush()
                os.fsync(f.fileno())
            switch_current(root, p.name)
            return current, p.name
        detail = f" (skipped invalid: {'; '.join(errors)})" if errors else ""
        raise BundleError(f"{root}: no valid version older than {current} to roll back to{detail}", root)


def rolled_back_versions(root: Path) -> set[str]:
    path = root / ROLLED_BACK_NAME
    return set(path.read_text(encoding="utf-8").split()) if path.exists() else set()


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link an immutable file into a staging dir (same filesystem), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    enospc_for_tests(dst.parent)


__all__ = ["DEFAULT_KEEP", "TMP_PREFIX", "BundleError", "DiskFullError", "PublishConflict", "clean_stale_staging",
           "link_or_copy", "new_staging_dir", "publish", "rollback", "staging_dir", "sweep"]
