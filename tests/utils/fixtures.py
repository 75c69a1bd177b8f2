"""Shared fixtures (a pytest plugin loaded by tests/conftest.py): tiny base encoders, exported tiny models and
published tiny bundles, each built once per session, and private copies for tests that change them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.utils.bundles import private_copy, published_root, tiny_model_dir, write_catalog
from tests.utils.tiny_models import make_tiny_base


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer, 32-wide random BERT with a WordPiece tokenizer, as a transformers directory."""
    return make_tiny_base(tmp_path_factory.mktemp("tiny-base") / "tiny")


@pytest.fixture(scope="session")
def qadsm_dir() -> Path:
    """The real German QADSM files, when this machine has them; tests that need them skip otherwise."""
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "qadsm" / "de"
    path = Path(os.environ.get("TWINRANK_QADSM", default))
    if not (path / "test.txt").exists():
        pytest.skip(f"QADSM files not found at {path} (set TWINRANK_QADSM to run this test)")
    return path


@pytest.fixture(scope="session")
def _few_faiss_threads() -> None:
    import faiss

    faiss.omp_set_num_threads(1)


# ---- the publishing side: an int8-capable model, a 60-ad catalog, a root with one version -----------------
@pytest.fixture(scope="session")
def model_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tiny_base_dir, tmp_path_factory.mktemp("model") / "de")


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "ads.jsonl", n=60)


@pytest.fixture(scope="session")
def built_root(model_dir: Path, catalog: Path, tmp_path_factory: pytest.TempPathFactory,
               _few_faiss_threads: None) -> Path:
    """A bundle root with one published version (built once; tests copy it before changing anything)."""
    return published_root(model_dir, catalog, tmp_path_factory.mktemp("built"))


@pytest.fixture
def root(built_root: Path, tmp_path: Path) -> Path:
    """A private copy of `built_root`."""
    return private_copy(built_root, tmp_path)


# ---- the serving side: an fp32 model, a 40-ad catalog and a second one (other ids) for swaps -------------
@pytest.fixture(scope="session")
def tiny_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny TwinBERT exported without int8 towers (the service tests serve fp32)."""
    return tiny_model_dir(tiny_base_dir, tmp_path_factory.mktemp("tiny-model") / "model", int8=False)


@pytest.fixture(scope="session")
def serving_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("serving-catalog") / "ads.jsonl", n=40)


@pytest.fixture(scope="session")
def catalog_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another catalog (other ad ids), for the next bundle version in swap tests."""
    return write_catalog(tmp_path_factory.mktemp("catalog-b") / "ads.jsonl", n=30, seed=1, prefix="bd")


@pytest.fixture(scope="session")
def _pristine_root(tiny_model: Path, serving_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_root(tiny_model, serving_catalog, tmp_path_factory.mktemp("bundles-pristine"))


@pytest.fixture
def bundle_root(_pristine_root: Path, tmp_path: Path) -> Path:
    """A bundle root with one published version, private to the test (tests may publish or corrupt)."""
    return private_copy(_pristine_root, tmp_path)
