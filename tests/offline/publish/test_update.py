"""Incremental update: only new or changed ads are re-encoded, deletes are dropped, the rest is reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from offline.errors import CatalogError
from offline.publish.update import update_bundle
from service.bundle import ad_text, load_manifest, read_current, resolve
from service.runtime.bundle_check import verify_bundle
from service.runtime.towers import OnnxTower
from tests.utils.bundles import catalog_rows, write_jsonl


def _table(version: Path) -> dict[str, int]:
    ids = pq.read_table(version / "ads.parquet", columns=["ad_id"]).column("ad_id").to_pylist()
    return {a: i for i, a in enumerate(ids)}


def test_update_reencodes_only_new_or_changed(root: Path, tmp_path: Path) -> None:
    old = resolve(root)
    old_rows, old_vecs = _table(old), np.load(old / "ad_vectors.npy")
    rows = catalog_rows(60)
    changed_text = dict(rows[3], title="Ganz Neuer Titel")
    changed_bid = dict(rows[4], bid=9.5)
    new = {"ad_id": "new-1", "title": "Neue Laufschuhe", "description": "jetzt kaufen", "bid": 1.0, "p_click": 0.05}
    upsert = write_jsonl(tmp_path / "up.jsonl", [changed_text, changed_bid, new])
    (tmp_path / "del.txt").write_text("ad0010\nad0011\n# a comment\nnot-there\n")

    r = update_bundle(root, upsert, tmp_path / "del.txt", progress=False)
    assert (r.n_ads, r.n_encoded, r.n_reused, r.n_deleted) == (59, 2, 57, 2)
    assert r.unknown_deletes == ["not-there"]
    v = r.version_dir
    assert read_current(root) == v.name
    m = verify_bundle(v)
    assert m.parent_version == old.name and m.index.n_ads == 59
    rows_now, vecs = _table(v), np.load(v / "ad_vectors.npy")
    assert "ad0010" not in rows_now and "ad0011" not in rows_now and rows_now["new-1"] == 58
    for a in ("ad0000", "ad0004", "ad0059"):  # unchanged text: the stored vector, bit for bit
        assert np.array_equal(vecs[rows_now[a]], old_vecs[old_rows[a]])
    assert not np.allclose(vecs[rows_now["ad0003"]], old_vecs[old_rows["ad0003"]])
    tower = OnnxTower.from_manifest(v, m, "ad")
    fresh = tower.encode([ad_text("Ganz Neuer Titel", rows[3]["description"]), ad_text(new["title"],
                                                                                      new["description"])])
    np.testing.assert_allclose(vecs[[rows_now["ad0003"], rows_now["new-1"]]], fresh, atol=1e-5)
    bids = pq.read_table(v / "ads.parquet").column("bid").to_pylist()
    assert bids[rows_now["ad0004"]] == 9.5
    old_m = verify_bundle(old)  # the previous version is untouched
    assert old_m.index.n_ads == 60


def test_update_refuses_upsert_and_delete_of_the_same_id(root: Path, tmp_path: Path) -> None:
    before = read_current(root)
    upsert = write_jsonl(tmp_path / "up.jsonl", catalog_rows(2))
    (tmp_path / "del.txt").write_text("ad0001\n")
    with pytest.raises(CatalogError, match="ad0001"):
        update_bundle(root, upsert, tmp_path / "del.txt", progress=False)
    assert read_current(root) == before and not list(root.glob(".tmp-*"))


def test_update_of_int8_bundle_keeps_codes(root: Path, model_dir: Path, catalog: Path, tmp_path: Path) -> None:
    from offline.publish.index_build import build_bundle

    v1 = build_bundle(model_dir, catalog, root, vectors_dtype="int8", progress=False)
    (tmp_path / "del.txt").write_text("ad0000\n")
    v2 = update_bundle(root, None, tmp_path / "del.txt", progress=False).version_dir
    a, b = np.load(v1 / "ad_vectors.npy"), np.load(v2 / "ad_vectors.npy")
    assert b.dtype == np.int8 and np.array_equal(a[1:], b)
    assert json.loads((v2 / "manifest.json").read_text())["index"]["vectors_scale"] == pytest.approx(1 / 127)
    assert load_manifest(v2).index.n_ads == 59


def test_an_index_kind_chosen_by_size_is_chosen_again_and_one_asked_for_is_kept() -> None:
    from offline.publish.index_shards import HNSW_MAX_ADS, nlist_for
    from offline.publish.update import auto_chosen

    n = 2 * HNSW_MAX_ADS
    assert auto_chosen("HNSW32,SQ8", 300_000, 128) and auto_chosen("Flat", 10, 128)
    assert auto_chosen(f"IVF{nlist_for(n)},SQ8", n, 128)  # what `index build` picked for that size
    assert not auto_chosen(f"IVF{nlist_for(n) + 1},SQ8", n, 128)  # a list count someone chose
    assert not auto_chosen("IVF256,PQ16", n, 128) and not auto_chosen("HNSW64", 300_000, 128)


def test_an_update_that_only_appends_adds_to_the_old_index(root: Path, tmp_path: Path, caplog) -> None:
    import faiss

    old = resolve(root)
    rows = catalog_rows(60)
    new = [{"ad_id": f"new-{i}", "title": f"Neue Laufschuhe {i}", "description": "jetzt kaufen", "bid": 1.0,
            "p_click": 0.05} for i in range(3)]
    same_text_new_bid = dict(rows[5], bid=7.0)  # a known ad, text unchanged: its row and vector stay
    with caplog.at_level("INFO", logger="offline.publish.index_build"):
        r = update_bundle(root, write_jsonl(tmp_path / "up.jsonl", [same_text_new_bid, *new]), progress=False)
    assert "appended 3 ads" in caplog.text and "built " not in caplog.text
    v = r.version_dir
    m = verify_bundle(v)
    assert m.index.n_ads == 63 and m.index.factory == load_manifest(old).index.factory
    index, vecs = faiss.read_index(str(v / m.index.file)), np.load(v / "ad_vectors.npy")
    rows_now = _table(v)
    _, found = index.search(np.ascontiguousarray(vecs[[rows_now["new-2"], rows_now["ad0005"]]], np.float32), 1)
    assert found[:, 0].tolist() == [rows_now["new-2"], rows_now["ad0005"]] == [62, 5]

    caplog.clear()
    with caplog.at_level("INFO", logger="offline.publish.index_build"):  # a changed text: the index is rebuilt
        update_bundle(root, write_jsonl(tmp_path / "up2.jsonl", [dict(rows[6], title="Anders")]), progress=False)
    assert "built " in caplog.text and "appended" not in caplog.text
