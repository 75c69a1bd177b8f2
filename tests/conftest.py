"""Shared fixtures live in `tests/utils/fixtures.py` (tiny models and bundles the tests make themselves)."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["tests.utils.fixtures"]
