"""Shared fixtures: tiny base encoders the tests make themselves (no hub, no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_base

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer, 32-wide random BERT with a WordPiece tokenizer, as a transformers directory."""
    return make_tiny_base(tmp_path_factory.mktemp("tiny-base") / "tiny")


@pytest.fixture(scope="session")
def qadsm_dir() -> Path:
    """The real German QADSM files, when this machine has them; tests that need them skip otherwise."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "qadsm" / "de"
    path = Path(os.environ.get("TWINRANK_QADSM", default))
    if not (path / "test.txt").exists():
        pytest.skip(f"QADSM files not found at {path} (set TWINRANK_QADSM to run this test)")
    return path
