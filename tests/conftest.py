"""Shared fixtures live in `tests/utils/fixtures.py` (tiny models and bundles the tests make themselves)."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `twinrank index build|update` nice themselves (cli/publish.py); run in-process by CliRunner they would nice the
# test runner's own thread and every thread it starts later.
os.environ.setdefault("TWINRANK_WRITER_NICE", "0")

pytest_plugins = ["tests.utils.fixtures"]
