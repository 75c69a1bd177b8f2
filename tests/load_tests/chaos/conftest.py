"""Fault cases in their quick version, on the tiny test bundle (copied where a case looks for its bundle)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from load_tests.chaos.base import CaseContext


@pytest.fixture
def chaos_ctx(_pristine_root: Path, tmp_path: Path) -> CaseContext:
    workdir = tmp_path / "work"
    shutil.copytree(_pristine_root, workdir / "bundles")
    return CaseContext(workdir=workdir, out_dir=tmp_path / "report", quick=True)
