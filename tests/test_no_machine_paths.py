"""Committed reports, the README, the shipped model and the configs name no path of the machine they were made on
(a temporary directory, a home or work directory): what a run writes into them is relative or redacted."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w<>.])/(?:tmp|work|home|root|Users)/[\w.-]")
TEXT = {".md", ".json", ".toml", ".txt", ".csv", ".yaml", ".yml"}


def test_committed_text_files_name_no_machine_path() -> None:
    files = [ROOT / "README.md", *(p for d in ("reports", "shipped", "configs") for p in (ROOT / d).rglob("*")
                                   if p.is_file() and p.suffix in TEXT)]
    found = [f"{p.relative_to(ROOT)}:{n}: {m.group(0)}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if (m := MACHINE_PATH.search(line))]
    assert not found, "machine paths in committed files:\n" + "\n".join(found[:20])
