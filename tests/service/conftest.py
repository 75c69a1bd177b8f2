"""Fixtures for the service tests: settings and an app over the shared tiny bundle (tests/utils/fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings

ADMIN_TOKEN = "test-admin-token"


# The tiny test models' relevance means nothing, so the service tests rank with the auction of before the replay
# defaults (w 0.5, no floor, no reserve); tests of those defaults use `Settings()` itself.
PRE_REPLAY_AUCTION = {"defect_weight": 0.5, "min_relevance": 0.0, "reserve": None}


def make_settings(root: Path, **overrides: object) -> Settings:
    values: dict = {"bundles": root, "admin_token": ADMIN_TOKEN, "watch_interval_s": 0, "ort_intra_op_threads": 1,
                    "worker_threads": 2, "retrieve_k": 20, "shutdown_grace_s": 5, **PRE_REPLAY_AUCTION}
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
