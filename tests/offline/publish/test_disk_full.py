"""A full disk while publishing (the test-only ENOSPC injection of the bundle writer): nothing published, the
previous version intact, the staging removed, and one clear line from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from offline.errors import DiskFullError
from offline.publish.bundle_writer import TEST_ENOSPC_ENV
from offline.publish.index_build import build_bundle
from offline.publish.update import update_bundle
from service.bundle import read_current, resolve, version_dirs
from service.runtime.bundle_check import verify_bundle
from tests.utils.cli import assert_one_line_error


def _state(root: Path) -> tuple[str | None, list[str]]:
    return read_current(root), [p.name for p in version_dirs(root)]


@pytest.mark.parametrize("after_bytes", [0, 832_000, 838_000])  # at the model files, the vectors, the index
def test_build_on_a_full_disk_publishes_nothing(root: Path, model_dir: Path, catalog: Path, after_bytes: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(root)
    monkeypatch.setenv(TEST_ENOSPC_ENV, str(after_bytes))
    with pytest.raises(DiskFullError, match=f"no space left on device under {root}.*CURRENT still names {before[0]}"):
        build_bundle(model_dir, catalog, root, progress=False)
    assert _state(root) == before and not list(root.glob(".tmp-*"))
    verify_bundle(resolve(root))


def test_update_on_a_full_disk_is_one_line_from_the_cli(root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(root)
    (tmp_path / "del.txt").write_text("ad0001\n")
    monkeypatch.setenv(TEST_ENOSPC_ENV, "0")
    r = CliRunner().invoke(app, ["index", "update", "--bundles", str(root), "--delete", str(tmp_path / "del.txt")])
    assert_one_line_error(r, "no space left on device", "nothing published", before[0])
    assert _state(root) == before and not list(root.glob(".tmp-*"))
    monkeypatch.delenv(TEST_ENOSPC_ENV)
    assert update_bundle(root, None, tmp_path / "del.txt", progress=False).n_deleted == 1  # space again: it works
