"""Where bundles live: a root holding immutable version directories and a `CURRENT` pointer file.

`CURRENT` holds the name of the current version directory and is only ever replaced by an atomic rename,
so a reader sees either the old or the new name, never a partial one.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from service.bundle.errors import BundleError
from service.bundle.manifest import MANIFEST_NAME

CURRENT_NAME = "CURRENT"
VERSION_RE = re.compile(r"^v(\d{6,})(?:-[A-Za-z0-9._-]+)?$")
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def version_seq(name: str) -> int | None:
    """The sequence number of a version directory name (`v000042-…` → 42), or None for other names."""
    m = VERSION_RE.match(name)
    return int(m.group(1)) if m else None


def version_dirs(root: str | Path) -> list[Path]:
    """Published version directories under `root`, oldest first (temporary `.tmp-*` dirs are skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and version_seq(p.name) is not None]
    return sorted(found, key=lambda p: (version_seq(p.name), p.name))


def read_current(root: str | Path) -> str | None:
    """The version name in `root/CURRENT`, or None when there is no pointer yet."""
    path = Path(root) / CURRENT_NAME
    if not path.exists():
        return None
    name = path.read_text(encoding="utf-8").strip()
    if version_seq(name) is None:
        raise BundleError(f"{path}: does not name a version directory (got {name[:80]!r})", path, reason="manifest")
    return name


def current_version_dir(root: str | Path) -> Path:
    """The directory `root/CURRENT` points at; `BundleError` when the pointer or its target is missing."""
    root = Path(root)
    name = read_current(root)
    if name is None:
        raise BundleError(f"{root / CURRENT_NAME}: missing (no bundle published under {root})", root / CURRENT_NAME)
    target = root / name
    if not target.is_dir():
        raise BundleError(f"{root / CURRENT_NAME}: points at {name}, which does not exist", target)
    return target


def resolve(root_or_version_dir: str | Path) -> Path:
    """A version directory as given (it has a manifest) or the current one of a bundle root."""
    path = Path(root_or_version_dir)
    if not path.is_dir():
        raise BundleError(f"{path}: no such directory", path, reason="missing_file")
    if (path / MANIFEST_NAME).exists():
        return path
    if (path / CURRENT_NAME).exists():
        return current_version_dir(path)
    if version_seq(path.name) is not None or path.name.startswith(".tmp-"):
        raise BundleError(f"{path / MANIFEST_NAME}: missing (a half-written or damaged bundle)", path / MANIFEST_NAME,
                          reason="manifest")
    raise BundleError(f"{path}: neither a bundle version (no {MANIFEST_NAME}) nor a bundle root (no {CURRENT_NAME})",
                      path)
