"""Broken bundle versions, made from a good one the way a faulty writer or a damaged disk would leave them.

`publish_broken(root, good, kind)` puts a copy of version `good` under `root` as the next version, breaks it
in the way `kind` names, and switches CURRENT to it. Unchanged files are hard links (as `index update` leaves
them); a broken file is always a new file, never the shared one edited in place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from service.bundle import CURRENT_NAME, MANIFEST_NAME, load_manifest, sha256_file, version_dirs, version_seq


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _edit_manifest(d: Path, edit: Callable[[dict], None]) -> None:
    raw = json.loads((d / MANIFEST_NAME).read_text(encoding="utf-8"))
    edit(raw)
    _replace(d / MANIFEST_NAME, json.dumps(raw, indent=2).encode())


def corrupted_file(d: Path) -> None:
    """One byte flipped in the middle of the FAISS index (its size unchanged)."""
    path = d / load_manifest(d).index.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    _replace(path, bytes(data))


def truncated_file(d: Path) -> None:
    """The stored ad vectors cut short (a copy that stopped early)."""
    path = d / load_manifest(d).index.vectors_file
    _replace(path, path.read_bytes()[:-100])


def truncated_encoder(d: Path) -> None:
    """The query tower's ONNX file cut to its first kilobyte: its digest matches the served model's in the
    manifest, so a server that took the tower over from memory without checking the file would accept it."""
    m = load_manifest(d)
    for name in {m.encoders.query.file("int8"), m.encoders.query.file("fp32")}:
        _replace(d / name, (d / name).read_bytes()[:1000])


def missing_file(d: Path) -> None:
    """The tokenizer deleted."""
    (d / load_manifest(d).tokenizer).unlink()


def wrong_dimensions(d: Path) -> None:
    """Ad vectors 8 wider than the model's dim, with a matching checksum (only a shape check can tell)."""
    m = load_manifest(d)
    path = d / m.index.vectors_file
    path.unlink()
    np.save(path, np.zeros((m.index.n_ads, m.model.dim + 8), dtype=m.index.vectors_dtype))
    digest = sha256_file(path)
    _edit_manifest(d, lambda raw: raw["files"].__setitem__(m.index.vectors_file, digest))


def manifest_names_absent_file(d: Path) -> None:
    """The manifest points the index at a file (listed with a digest) that was never written."""
    m = load_manifest(d)

    def edit(raw: dict) -> None:
        raw["index"]["file"] = "ads-missing.faiss"
        raw["files"]["ads-missing.faiss"] = raw["files"].pop(m.index.file)

    _edit_manifest(d, edit)
    (d / m.index.file).unlink()


def invalid_manifest(d: Path) -> None:
    """A manifest cut off mid-write."""
    path = d / MANIFEST_NAME
    _replace(path, path.read_bytes()[:200])


BREAKAGES: dict[str, Callable[[Path], None]] = {f.__name__: f for f in (
    corrupted_file, truncated_file, truncated_encoder, missing_file, wrong_dimensions, manifest_names_absent_file,
    invalid_manifest)}
# The `BundleError.reason` the service gives each (what `/metrics` counts).
EXPECTED_REASON = {"corrupted_file": "checksum", "truncated_file": "checksum", "truncated_encoder": "checksum",
                   "missing_file": "missing_file", "wrong_dimensions": "dimensions",
                   "manifest_names_absent_file": "missing_file", "invalid_manifest": "manifest"}


def copy_version(root: Path, good: Path, tag: str) -> Path:
    """Version `good` hard-linked into the next version directory under `root` (named `v…-tag`), its manifest
    renamed to match; CURRENT is not touched."""
    seq = max((version_seq(p.name) or 0 for p in version_dirs(root)), default=0) + 1
    name = f"v{seq:06d}-{tag.replace('_', '-')}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    for f in good.iterdir():
        if f.is_file() and f.name != MANIFEST_NAME:
            os.link(f, tmp / f.name)
    raw = json.loads((good / MANIFEST_NAME).read_text(encoding="utf-8"))
    raw["bundle_version"], raw["parent_version"] = name, good.name
    (tmp / MANIFEST_NAME).write_text(json.dumps(raw, indent=2), encoding="utf-8")
    os.replace(tmp, root / name)
    return root / name


def switch_current(root: Path, name: str) -> None:
    tmp = root / f"{CURRENT_NAME}.tmp-chaos"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, root / CURRENT_NAME)


def publish_broken(root: Path, good: Path, kind: str) -> Path:
    """A copy of `good` broken as `kind` (a key of BREAKAGES), made the current version; returns its directory."""
    d = copy_version(root, good, kind)
    BREAKAGES[kind](d)
    switch_current(root, d.name)
    return d
