"""Fixtures for the service tests: real tiny bundles (tiny TwinBERT → offline export → build_bundle)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from tests.service.factory import build_tiny_bundle, tiny_model_dir, write_catalog

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def tiny_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tiny_base_dir, tmp_path_factory.mktemp("tiny-model") / "model", seed=0)


@pytest.fixture(scope="session")
def catalog_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another catalog (other ad ids), for the next bundle version in swap tests."""
    return write_catalog(tmp_path_factory.mktemp("catalog-b") / "ads.jsonl", n=30, seed=1, prefix="bd")


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "ads.jsonl", n=40)


@pytest.fixture(scope="session")
def _pristine_root(tiny_model: Path, catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundles-pristine") / "bundles"
    build_tiny_bundle(tiny_model, catalog, root)
    return root


@pytest.fixture
def bundle_root(_pristine_root: Path, tmp_path: Path) -> Path:
    """A bundle root with one published version, private to the test (tests may publish or corrupt)."""
    root = tmp_path / "bundles"
    shutil.copytree(_pristine_root, root)
    return root


def make_settings(root: Path, **overrides: object) -> Settings:
    values: dict = {"bundles": root, "admin_token": ADMIN_TOKEN, "watch_interval_s": 0, "ort_intra_op_threads": 1,
                    "worker_threads": 2, "retrieve_k": 20, "shutdown_grace_s": 5}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(bundle_root: Path) -> Settings:
    return make_settings(bundle_root)


@pytest.fixture(scope="module")
def client(_pristine_root: Path):
    """An app over the shared pristine bundle root (read-only: tests that publish use `bundle_root`)."""
    with TestClient(create_app(make_settings(_pristine_root))) as c:
        yield c
