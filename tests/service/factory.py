"""Test factories for the service: the bundle tests' catalog and tiny TwinBERT, published as real bundles."""

from __future__ import annotations

from pathlib import Path

from tests.bundle.helpers import catalog_rows, write_jsonl
from tests.bundle.helpers import tiny_model_dir as _tiny_model_dir


def write_catalog(path: Path, n: int = 40, seed: int = 0, prefix: str = "ad") -> Path:
    return write_jsonl(path, catalog_rows(n, seed, prefix))


def tiny_model_dir(base_dir: Path, out: Path, seed: int = 0) -> Path:
    """The tiny TwinBERT exported without int8 towers (the service tests serve fp32)."""
    return _tiny_model_dir(base_dir, out, int8=False, seed=seed)


def build_tiny_bundle(model_dir: Path, catalog: Path, root: Path) -> Path:
    """Publish a bundle version under `root` (CURRENT switched to it); returns the version dir."""
    from offline.publish.index_build import build_bundle

    return build_bundle(model_dir, catalog, root, progress=False)
