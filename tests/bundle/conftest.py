"""Fixtures for bundle tests: one exported tiny model per session, a fresh published bundle per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bundle.helpers import catalog_rows, tiny_model_dir, write_jsonl


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    import faiss

    faiss.omp_set_num_threads(1)


@pytest.fixture(scope="session")
def model_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tiny_base_dir, tmp_path_factory.mktemp("model") / "de")


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("catalog") / "ads.jsonl", catalog_rows(60))


@pytest.fixture(scope="session")
def built_root(model_dir: Path, catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle root with one published version (built once; tests copy it before changing anything)."""
    from offline.publish.index_build import build_bundle

    root = tmp_path_factory.mktemp("built") / "bundles"
    build_bundle(model_dir, catalog, root, progress=False)
    return root


@pytest.fixture
def root(built_root: Path, tmp_path: Path) -> Path:
    """A private copy of `built_root` (real files, no hard links back to the session copy)."""
    dst = tmp_path / "bundles"
    shutil.copytree(built_root, dst)
    return dst
