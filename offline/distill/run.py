"""One distillation run: its data and paths (`Run`), and resumable stages: a stage is skipped when its
directory holds `done.json` with the same fingerprint."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from offline.data.qadsm import Pairs, read_split
from offline.distill.config import RunConfig, fingerprint

if TYPE_CHECKING:
    from offline.distill.ray_score import RayScoring

console = Console(stderr=True)


class Run:
    """Paths and data of one distillation run. `engine` (not part of any fingerprint: the outputs are the same
    either way) runs the score stage's teacher passes on Ray when set."""

    def __init__(self, data: str, out: Path, config: RunConfig, engine: RayScoring | None = None) -> None:
        self.data, self.out, self.config, self.engine = data, out, config, engine
        self._splits: dict[str, Pairs] = {}

    def split(self, name: str) -> Pairs:
        if name not in self._splits:
            limit = self.config.test_limit if name == "test" else self.config.train_limit
            self._splits[name] = read_split(self.data, name, limit)
        return self._splits[name]

    def key(self, *parts: object) -> str:
        """The fingerprint of a stage that depends on `parts` (plus the data, base encoder, seed and size)."""
        c = self.config
        return fingerprint(self.data, c.base, c.seed, c.train_limit, *parts)


def stage_done(stage_dir: Path, key: str) -> dict[str, Any] | None:
    marker = stage_dir / "done.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("fingerprint") == key:
            return info
    return None


def run_stage(name: str, run_dir: Path, key: str, fn: Callable[[Path], dict[str, Any] | None]) -> dict[str, Any]:
    """Run `fn(stage_dir)` unless already done for `key`; returns the stage's info (incl. wall time).

    Work goes into the stage directory; `done.json` is written last, so an interrupted stage reruns. A stage
    with a different fingerprint starts from a clean directory.
    """
    stage_dir = run_dir / name
    info = stage_done(stage_dir, key)
    if info is not None:
        console.print(f"[dim]stage {name}: done ({info['seconds']:.0f}s), skipped[/dim]")
        return info
    if stage_dir.exists():
        old = stage_dir / "done.json"
        if old.exists():  # finished under another config: start over
            shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]stage {name}[/bold]")
    start = time.perf_counter()
    result = fn(stage_dir) or {}
    info = {"fingerprint": key, "seconds": time.perf_counter() - start, **result}
    tmp = stage_dir / "done.json.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(stage_dir / "done.json")
    console.print(f"stage {name}: {info['seconds']:.0f}s")
    return info
