"""Atomic publishing of bundle versions: build in a temporary sibling directory, fsync, rename, then switch
`CURRENT` by an atomic rename. Keeps the last N versions; rollback moves `CURRENT` back one version.

A crash or kill at any point leaves `CURRENT` naming a complete, untouched version: existing version
directories are never written to, and `CURRENT` changes only by `os.replace`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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
TMP_PREFIX = ".tmp-"
DEFAULT_KEEP = 3


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


def new_staging_dir(root: str | Path) -> Path:
    """A fresh temporary directory beside the versions (same filesystem, so the final rename is atomic)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(root)
    tmp = root / f"{TMP_PREFIX}{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    return tmp


def clean_stale_staging(root: Path) -> None:
    """Remove staging directories whose builder process is gone (left by a crash or kill)."""
    for p in root.glob(f"{TMP_PREFIX}*"):
        pid = p.name[len(TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(staging: Path, manifest_fields: dict, keep: int = DEFAULT_KEEP, verify: bool = True) -> Path:
    """Seal `staging` (checksums + manifest), rename it to the next version, switch CURRENT, prune.

    Args:
        staging: a directory from `new_staging_dir` holding every bundle file but the manifest.
        manifest_fields: the Manifest fields except bundle_version, created_at and files.
        keep: how many versions to keep (the current one is always kept).
    Returns:
        The published version directory.
    """
    root = staging.parent
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file() and p.name != MANIFEST_NAME}
    for name in files:
        fsync_file(staging / name)
    with root_lock(root):
        seq = max((version_seq(p.name) or 0 for p in version_dirs(root)), default=0) + 1
        now = datetime.now(UTC)
        name = f"v{seq:06d}-{now:%Y%m%dT%H%M%SZ}"
        manifest = Manifest.model_validate({**manifest_fields, "bundle_version": name,
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
        switch_current(root, name)
    prune(root, keep)
    return target


def switch_current(root: Path, name: str) -> None:
    """Point CURRENT at `name` by writing a temporary file and renaming it over CURRENT."""
    if not (root / name / MANIFEST_NAME).is_file():
        raise BundleError(f"{root / name}: not a complete bundle version", root / name)
    tmp = root / f"{CURRENT_NAME}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / CURRENT_NAME)
    fsync_dir(root)


def prune(root: Path, keep: int) -> list[Path]:
    """Delete the oldest versions beyond `keep`; never the current one or anything newer than it."""
    keep = max(keep, 1)
    current = read_current(root)
    versions = version_dirs(root)
    removed = []
    for p in versions[: max(len(versions) - keep, 0)]:
        if p.name == current:
            continue
        if current is not None and (version_seq(p.name) or 0) > (version_seq(current) or 0):
            continue
        shutil.rmtree(p)
        removed.append(p)
    return removed


def rollback(root: str | Path) -> str:
    """Switch CURRENT to the newest valid version older than the current one; returns its name.

    The version rolled back from is remembered in ROLLED_BACK, so a later rollback (after a newer build)
    skips it instead of going back to the version that was just abandoned.
    """
    root = Path(root)
    with root_lock(root):
        current = read_current(root)
        if current is None:
            raise BundleError(f"{root / CURRENT_NAME}: missing, nothing to roll back", root / CURRENT_NAME)
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
            return p.name
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
