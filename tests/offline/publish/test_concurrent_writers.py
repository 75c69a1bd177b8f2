"""Writers that cannot lose each other's work: real `twinrank` processes racing for CURRENT on one bundle root.

Each writer is held at a gate just before it publishes (it has read CURRENT and staged its version by then), so
the tests choose which switch lands first; the writers themselves are the real CLI in child processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from service.bundle import load_manifest, read_current, resolve
from service.runtime.bundle_check import verify_bundle
from tests.utils.bundles import catalog_rows, write_jsonl
from tests.utils.writers import Writer, run_writer

NEW_AD = {"ad_id": "new-a", "title": "Neue Laufschuhe", "description": "jetzt kaufen", "bid": 1.0, "p_click": 0.05}
OTHER_AD = {"ad_id": "new-b", "title": "Gartenmoebel Holz", "description": "im sale", "bid": 0.5, "p_click": 0.02}


def _ids(version: Path) -> list[str]:
    return pq.read_table(version / "ads.parquet", columns=["ad_id"]).column("ad_id").to_pylist()


def _vector(version: Path, ad_id: str) -> np.ndarray:
    return np.load(version / "ad_vectors.npy")[_ids(version).index(ad_id)]


def _assert_conflict(rc: int, err: str, *needles: str) -> None:
    """Exit 3 and a last stderr line `error: …` naming each needle, never a traceback."""
    last = err.strip().splitlines()[-1]
    assert rc == 3 and last.startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in last, last


def test_two_updates_at_once_keep_both_changes(root: Path, tmp_path: Path) -> None:
    v1 = read_current(root)
    changed = dict(catalog_rows(60)[3], title="Ganz Neuer Titel")
    up_a = write_jsonl(tmp_path / "a.jsonl", [NEW_AD, changed])
    up_b = write_jsonl(tmp_path / "b.jsonl", [OTHER_AD])
    (tmp_path / "del.txt").write_text("ad0005\n")
    a = Writer("index", "update", "--bundles", str(root), "--upsert", str(up_a), "--threads", "1",
               gate=tmp_path / "gate-a")
    b = Writer("index", "update", "--bundles", str(root), "--upsert", str(up_b), "--delete", str(tmp_path / "del.txt"),
               "--threads", "1", gate=tmp_path / "gate-b")
    a.wait_at_gate()
    b.wait_at_gate()  # both built from v1
    a.release()
    rc_a, out_a, err_a = a.finish()
    assert rc_a == 0, err_a
    v_a = read_current(root)
    b.release()
    rc_b, out_b, err_b = b.finish()
    assert rc_b == 0 and "rebased 1×" in out_b and "1 encoded" in out_b, out_b + err_b

    final = resolve(root)
    m = verify_bundle(final)
    assert m.parent_version == v_a and load_manifest(root / v_a).parent_version == v1
    ids = _ids(final)
    assert {"new-a", "new-b"} <= set(ids) and "ad0005" not in ids and len(ids) == 60 + 2 - 1
    # the rebase took the new parent's vectors (A's re-encoded ad0003), B's own ad encoded once
    assert np.array_equal(_vector(final, "ad0003"), _vector(root / v_a, "ad0003"))
    assert not np.array_equal(_vector(final, "ad0003"), _vector(root / v1, "ad0003"))
    titles = dict(zip(ids, pq.read_table(final / "ads.parquet", columns=["title"]).column("title").to_pylist(),
                      strict=True))
    assert titles["ad0003"] == "Ganz Neuer Titel"
    assert not list(root.glob(".tmp-*")) and not list(root.glob("CURRENT.tmp-*"))


def test_build_that_lost_the_race_is_refused_unless_forced(root: Path, model_dir: Path, catalog: Path,
                                                           tmp_path: Path) -> None:
    v1 = read_current(root)
    build_args = ("index", "build", "--model", str(model_dir), "--catalog", str(catalog), "--bundles", str(root),
                  "--threads", "1")
    build = Writer(*build_args, gate=tmp_path / "gate-build")
    build.wait_at_gate()
    (tmp_path / "del.txt").write_text("ad0007\n")
    rc, out, err = run_writer("index", "update", "--bundles", str(root), "--delete", str(tmp_path / "del.txt"))
    assert rc == 0, err
    v2 = read_current(root)
    build.release()
    rc, _, err = build.finish()
    _assert_conflict(rc, err, f"moved from {v1} to {v2}", "nothing published", "--force")
    assert read_current(root) == v2 and "ad0007" not in _ids(resolve(root))
    assert not list(root.glob(".tmp-*"))  # the loser's staging is gone
    rc, out, err = run_writer(*build_args, "--force")
    assert rc == 0, err
    assert load_manifest(resolve(root)).parent_version == v2 and "ad0007" in _ids(resolve(root))


def test_update_rebases_onto_a_build_that_landed_first(root: Path, model_dir: Path, catalog: Path,
                                                       tmp_path: Path) -> None:
    up = write_jsonl(tmp_path / "up.jsonl", [NEW_AD])
    update = Writer("index", "update", "--bundles", str(root), "--upsert", str(up), "--threads", "1",
                    gate=tmp_path / "gate-update")
    update.wait_at_gate()
    rc, _, err = run_writer("index", "build", "--model", str(model_dir), "--catalog", str(catalog), "--bundles",
                            str(root), "--threads", "1", "--vectors", "int8")
    assert rc == 0, err
    built = read_current(root)
    update.release()
    rc, out, err = update.finish()
    assert rc == 0 and "rebased 1×" in out, out + err
    final = resolve(root)
    m = verify_bundle(final)
    assert m.parent_version == built and m.index.vectors_dtype == "int8"  # on top of the build, in its format
    assert "new-a" in _ids(final) and len(_ids(final)) == 61


def test_rollback_and_update(root: Path, model_dir: Path, catalog: Path, tmp_path: Path) -> None:
    v1 = read_current(root)
    rc, _, err = run_writer("index", "build", "--model", str(model_dir), "--catalog", str(catalog), "--bundles",
                            str(root), "--threads", "1")
    assert rc == 0, err
    v2 = read_current(root)
    # an update built from v2 is still running when v2 is rolled back: it lands on v1, v2 stays abandoned
    up = write_jsonl(tmp_path / "up.jsonl", [NEW_AD])
    update = Writer("index", "update", "--bundles", str(root), "--upsert", str(up), "--threads", "1",
                    gate=tmp_path / "gate-update")
    update.wait_at_gate()
    rc, out, err = run_writer("bundle", "rollback", "--bundles", str(root), "--from", v2.split("-")[0])
    assert rc == 0 and f"CURRENT {v2} → {v1}" in out, out + err
    update.release()
    rc, out, err = update.finish()
    assert rc == 0 and "rebased 1×" in out, out + err
    v3 = read_current(root)
    assert load_manifest(root / v3).parent_version == v1 and "new-a" in _ids(root / v3)
    # a rollback meant for v2, run after that update landed, would undo the update: refused, CURRENT kept
    rc, out, err = run_writer("bundle", "rollback", "--bundles", str(root), "--from", v2)
    _assert_conflict(rc, err, f"names {v3}, not {v2}", "nothing rolled back")
    assert read_current(root) == v3
