"""Atomic publish, keep-last-N, rollback, and crashes (injected and SIGKILL) during a build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offline.publish import bundle_writer, staging
from offline.publish.index_build import build_bundle
from service.bundle import BundleError, read_current, resolve, version_dirs
from service.runtime.bundle_check import verify_bundle
from tests.utils.bundles import catalog_rows, write_jsonl

REPO = Path(__file__).resolve().parents[3]


def _state(root: Path) -> tuple[str | None, list[str]]:
    return read_current(root), [p.name for p in version_dirs(root)]


def test_second_build_switches_current_and_rollback_goes_back(root: Path, model_dir: Path, catalog: Path) -> None:
    first = read_current(root)
    v2 = build_bundle(model_dir, catalog, root, factory="HNSW32", vectors_dtype="int8", progress=False)
    assert read_current(root) == v2.name and v2.name > first
    m2 = verify_bundle(v2)
    assert m2.index.vectors_dtype == "int8" and m2.index.factory == "HNSW32"
    assert bundle_writer.rollback(root) == first and read_current(root) == first
    with pytest.raises(BundleError, match="no valid version older"):
        bundle_writer.rollback(root)
    assert read_current(root) == first
    v3 = build_bundle(model_dir, catalog, root, progress=False)  # a fix after the rollback...
    assert read_current(root) == v3.name
    assert bundle_writer.rollback(root) == first  # ...rolled back skips the abandoned v2


def test_rollback_skips_a_damaged_older_version(root: Path, model_dir: Path, catalog: Path) -> None:
    first = read_current(root)
    v2 = build_bundle(model_dir, catalog, root, progress=False)
    build_bundle(model_dir, catalog, root, progress=False)
    (v2 / "ads.parquet").write_bytes(b"garbage")
    assert bundle_writer.rollback(root) == first


def test_keep_last_n(root: Path, model_dir: Path, catalog: Path) -> None:
    for _ in range(3):
        last = build_bundle(model_dir, catalog, root, keep=2, progress=False)
    current, versions = _state(root)
    assert current == last.name and len(versions) == 2 and versions[-1] == last.name


def test_exception_during_publish_leaves_current_intact(root: Path, model_dir: Path, catalog: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(root)

    def boom(*_a: object) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(bundle_writer.os, "rename", boom)
    with pytest.raises(OSError, match="injected"):
        build_bundle(model_dir, catalog, root, progress=False)
    assert _state(root) == before
    assert not list(root.glob(".tmp-*"))
    verify_bundle(resolve(root))


def test_bad_catalog_fails_before_touching_the_root(root: Path, model_dir: Path, tmp_path: Path) -> None:
    rows = catalog_rows(10)
    rows[7]["p_click"] = 2.0
    before = _state(root)
    with pytest.raises(ValueError, match="row 8"):
        build_bundle(model_dir, write_jsonl(tmp_path / "bad.jsonl", rows), root, progress=False)
    assert _state(root) == before and not list(root.glob(".tmp-*"))


_SLOW_BUILD = """
import sys, time
import offline.publish.index_build as ib
from offline.data.catalog import iter_blocks
def slow(path, block_size=8192):
    for b in iter_blocks(path, 8):
        time.sleep(0.3)
        yield b
ib.iter_blocks = slow
if sys.argv[4] == "die-before-switch":
    import os, offline.publish.bundle_writer as bw
    bw.switch_current = lambda root, name: os._exit(137)
ib.build_bundle(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
"""


def _spawn(model_dir: Path, catalog: Path, root: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(model_dir), str(catalog), str(root), mode],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_mid_build_leaves_previous_bundle_serving(root: Path, model_dir: Path, catalog: Path) -> None:
    before = _state(root)
    proc = _spawn(model_dir, catalog, root, "kill")
    deadline = time.monotonic() + 300
    while not list(root.glob(".tmp-*/ad_vectors.npy")):  # staging exists and encoding has started
        assert proc.poll() is None and time.monotonic() < deadline, "builder ended before it could be killed"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert _state(root) == before
    verify_bundle(resolve(root))
    assert list(root.glob(".tmp-*")), "the killed builder's staging dir is left behind"
    v2 = build_bundle(model_dir, catalog, root, progress=False)  # the next build sweeps it away
    assert read_current(root) == v2.name and not list(root.glob(".tmp-*"))


def test_death_between_rename_and_switch(root: Path, model_dir: Path, catalog: Path) -> None:
    before_current, before_versions = _state(root)
    proc = _spawn(model_dir, catalog, root, "die-before-switch")
    assert proc.wait(180) == 137
    current, versions = _state(root)
    assert current == before_current and len(versions) == len(before_versions) + 1
    verify_bundle(resolve(root))
    verify_bundle(root / versions[-1])  # the unswitched new version is complete, just not current
    v3 = build_bundle(model_dir, catalog, root, progress=False)  # the next writer drops the unswitched one
    assert _state(root) == (v3.name, [*before_versions, v3.name])
    assert not list(root.glob(".tmp-*"))


def test_sweep_keeps_live_writers_and_rolled_back_versions(root: Path, model_dir: Path, catalog: Path) -> None:
    first = read_current(root)
    v2 = build_bundle(model_dir, catalog, root, progress=False)
    bundle_writer.rollback(root)
    mine = staging.scratch_path(root)
    mine.mkdir()  # this (live) process's staging
    reused_pid = root / f".tmp-{os.getpid()}-1-123"  # our pid, another start time: a dead writer whose pid came back
    dead = root / ".tmp-999999999-5-123"
    legacy_dead = root / ".tmp-999999999-1796171007815410356"  # the earlier `.tmp-<pid>-<ns>` names
    for p in (reused_pid, dead, legacy_dead):
        p.mkdir()
    (root / "CURRENT.tmp-999999999-5-1").write_text("v9")
    foreign = root / ".tmp-someone-else"
    other_container = root / f".tmp-{os.getpid()}-5-1-123"  # another pid namespace: its pid means nothing here
    abandoned_there = root / ".tmp-7-5-1-123"
    for p in (foreign, other_container, abandoned_there):
        p.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(abandoned_there, (two_days_ago, two_days_ago))
    removed = bundle_writer.sweep(root)
    assert {p.name for p in removed} == {reused_pid.name, dead.name, legacy_dead.name, "CURRENT.tmp-999999999-5-1",
                                         abandoned_there.name}
    assert mine.is_dir() and foreign.is_dir() and other_container.is_dir()
    assert (root / v2.name).is_dir()  # v2 was rolled back from: kept
    assert read_current(root) == first


def test_a_kill_while_pruning_leaves_no_half_version(root: Path, model_dir: Path, catalog: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = read_current(root)

    def killed(paths: list[Path]) -> None:
        if paths:
            raise KeyboardInterrupt  # the process stops after the pruned versions were renamed, before deleting

    monkeypatch.setattr(bundle_writer, "_remove", killed)
    with pytest.raises(KeyboardInterrupt):
        build_bundle(model_dir, catalog, root, keep=1, progress=False)
    current, versions = _state(root)
    assert versions == [current] and current != first  # the old one was renamed away whole, not half-deleted
    left = list(root.glob(".tmp-*old-v*"))
    assert len(left) == 1
    monkeypatch.undo()
    monkeypatch.setattr(staging, "owner_alive", lambda name: False)  # as seen by the next writer's process
    bundle_writer.sweep(root)
    assert not list(root.glob(".tmp-*"))
