"""Swaps on a real Ranker over real bundles: an ad-only update (and a rollback) takes over the served encoders,
sessions and query cache and re-hashes none of their files; a new model is opened, checked and warmed in full."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from offline.publish.bundle_writer import rollback
from offline.publish.update import update_bundle
from service.bundle import BundleError, sha256_file
from service.bundle.hashing import hash_low_priority
from service.ranker.low_priority import run_low_priority, thread_nice
from service.ranker.ranker import Ranker
from service.ranker.types import AdInput, RankQuery
from tests.service.conftest import make_settings
from tests.utils.bundles import build_tiny_bundle, tiny_model_dir, write_catalog, write_jsonl

INDEX_FILES = {"ads.faiss", "ads.parquet", "ad_vectors.npy"}


def _query(text: str) -> RankQuery:
    return RankQuery(query=text, top_k=5, defect_weight=0.5)


@pytest.fixture
def ranker(bundle_root: Path):
    r = Ranker(make_settings(bundle_root))
    r.reload()
    yield r
    r.close()


@pytest.fixture(scope="module")
def other_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny TwinBERT (other weights): a new model for the same service."""
    return tiny_model_dir(tiny_base_dir, tmp_path_factory.mktemp("other-model") / "model", int8=False, seed=1)


def _publish_new_model(model: Path, root: Path, catalog: Path) -> Path:
    """A version of `model` over a catalog of its own (25 ads, ids "nm..."), published under `root`."""
    return build_tiny_bundle(model, write_catalog(catalog, n=25, seed=2, prefix="nm"), root)


def _ad_only_update(root: Path, tmp_path: Path) -> None:
    upsert = write_jsonl(tmp_path / "upsert.jsonl", [{"ad_id": "new0001", "title": "Laufschuhe Neu",
                                                     "description": "leichte laufschuhe", "bid": 1.0,
                                                     "p_click": 0.03}])
    (tmp_path / "delete.txt").write_text("ad0003\n")
    update_bundle(root, upsert, tmp_path / "delete.txt", progress=False, threads=1)


def test_ad_only_update_takes_over_encoders_sessions_and_cache(ranker: Ranker, bundle_root: Path,
                                                               tmp_path: Path) -> None:
    old = ranker.bundle
    assert old is not None and old.hashed == sorted(old.manifest.files)  # the first load hashes everything
    ranker.rank_sync(_query("laufschuhe damen"))
    cache = old.query_cache  # the retired bundle lets go of it once its last request is done
    _ad_only_update(bundle_root, tmp_path)
    result = ranker.check_current()
    new = ranker.bundle
    assert result is not None and result.changed and new is not None and new is not old
    assert new.model.reused == {"query", "ad", "res"}
    # The very same tokenizers, ONNX sessions and head, not equal copies.
    assert new.query_encoder.model.session is old.query_encoder.model.session
    assert new.ad_encoder.model.session is old.ad_encoder.model.session
    assert new.query_tokenizer is old.query_tokenizer and new.res is old.res
    # Only the files the update wrote were hashed; the encoders and tokenizer are hard links of verified files.
    assert set(new.hashed) == INDEX_FILES
    assert new.query_cache is cache and old.query_cache is not cache
    again = ranker.rank_sync(_query("laufschuhe damen"))
    assert again.query_cached and again.bundle_version == new.version
    assert "new0001" in new.ads and "ad0003" not in new.ads and "ad0003" in old.ads
    text = _metrics(ranker)
    assert 'twinrank_bundle_events_total{event="loaded",reason="same_model"} 1.0' in text

    # Rollback is a swap to the older version: the same model again, so the parts are taken over again.
    assert rollback(bundle_root) == old.version
    ranker.check_current()
    back = ranker.bundle
    assert back is not None and back.version == old.version and back.model.reused == {"query", "ad", "res"}
    assert back.query_encoder.model.session is old.query_encoder.model.session
    assert ranker.rank_sync(_query("laufschuhe damen")).query_cached


def test_new_model_is_opened_in_full_with_a_cache_of_its_own(ranker: Ranker, bundle_root: Path,
                                                             other_model: Path, tmp_path: Path) -> None:
    old = ranker.bundle
    assert old is not None
    ranker.rank_sync(_query("wohnung mieten"))
    cache = old.query_cache
    new_dir = _publish_new_model(other_model, bundle_root, tmp_path / "ads.jsonl")
    ranker.check_current()
    new = ranker.bundle
    assert new is not None and new.version == new_dir.name
    assert new.model.reused == frozenset()
    assert new.query_encoder.model.session is not old.query_encoder.model.session
    assert new.res is not old.res
    # ... over the same tokenizer file (the same base vocabulary): the loaded tokenizers are kept
    assert new.query_tokenizer is old.query_tokenizer and new.ad_tokenizer is old.ad_tokenizer
    assert not new.ads_taken_over and new.index is not old.index
    assert set(new.hashed) == set(new.manifest.files)
    # A cache of its own, warmed before the swap with the served cache's queries encoded by the new tower.
    assert new.query_cache is not cache and not new.cache_carried
    assert new.warmed_queries == 1 and len(new.query_cache) == 1
    out = ranker.rank_sync(_query("wohnung mieten"))
    assert out.query_cached and out.bundle_version == new.version
    assert all(r.ad_id.startswith("nm") for r in out.results)
    # The new tower's vectors differ from the old one's: a carried cache would have served wrong vectors.
    v_old = old.encode_queries(["wohnung mieten"])[0][0]
    v_new = new.encode_queries(["wohnung mieten"])[0][0]
    assert float(np.dot(v_old, v_new)) < 0.99
    np.testing.assert_allclose(new.query_cache.get("wohnung mieten"), v_new, atol=1e-6)
    assert 'twinrank_bundle_events_total{event="loaded",reason="new_model"} 1.0' in _metrics(ranker)


def test_a_new_model_over_the_same_ad_files_keeps_index_vectors_and_table(tmp_path: Path, model_dir: Path,
                                                                        other_model: Path) -> None:
    """The benchmark's way to swap students (and the 1M-ad chaos case): the new version hard-links CURRENT's index,
    vectors and table, so the service keeps the loaded ones and reads no million-row table again."""
    from load_tests.bench.retrieval import synthetic_vectors
    from load_tests.bench.synthetic_bundle import build_synthetic_bundle

    root = tmp_path / "bundles"
    vectors, _ = synthetic_vectors(tmp_path, 500, dim=16, nq=5)
    build_synthetic_bundle(root, model_dir, vectors, factory="Flat")
    r = Ranker(make_settings(root))
    try:
        r.reload()
        old = r.bundle
        assert old is not None
        build_synthetic_bundle(root, other_model, vectors, factory="Flat", keep=3)
        r.check_current()
        new = r.bundle
        assert new is not None and new is not old and new.ads_taken_over
        assert new.index is old.index and new.vectors is old.vectors and new.ads is old.ads
        assert new.query_encoder.model.session is not old.query_encoder.model.session
        assert len(r.rank_sync(_query("laufschuhe")).results) > 0
    finally:
        r.close()


def test_rollback_after_a_new_model_takes_the_spare_model_over(ranker: Ranker, bundle_root: Path,
                                                               other_model: Path, tmp_path: Path) -> None:
    """The model a new one replaced is kept: rolling back to it opens no session and brings its cache back."""
    old = ranker.bundle
    assert old is not None
    ranker.rank_sync(_query("ferienhaus ostsee"))
    cache = old.query_cache
    _publish_new_model(other_model, bundle_root, tmp_path / "ads.jsonl")
    ranker.check_current()
    new = ranker.bundle
    assert new is not None and new.model.reused == frozenset()
    assert rollback(bundle_root) == old.version
    ranker.check_current()
    back = ranker.bundle
    assert back is not None and back.version == old.version
    assert back.model.reused == {"query", "ad", "res"}
    assert back.query_encoder.model.session is old.query_encoder.model.session
    assert back.query_cache is cache and back.hashed == []
    assert ranker.rank_sync(_query("ferienhaus ostsee")).query_cached
    # And forward again: the new model is the spare now.
    _publish_new_model(other_model, bundle_root, tmp_path / "ads2.jsonl")
    ranker.check_current()
    again = ranker.bundle
    assert again is not None and again.query_encoder.model.session is new.query_encoder.model.session


def test_no_spare_model_when_turned_off(bundle_root: Path, other_model: Path, tmp_path: Path) -> None:
    r = Ranker(make_settings(bundle_root, keep_spare_model=False, swap_warm_queries=0))
    try:
        r.reload()
        old = r.bundle
        assert old is not None
        r.rank_sync(_query("ferienhaus ostsee"))
        _publish_new_model(other_model, bundle_root, tmp_path / "ads.jsonl")
        r.check_current()
        assert r.bundle is not None and len(r.bundle.query_cache) == 0 and r.bundle.warmed_queries == 0
        rollback(bundle_root)
        r.check_current()
        back = r.bundle
        assert back is not None and back.model.reused == frozenset()
        assert back.query_encoder.model.session is not old.query_encoder.model.session
    finally:
        r.close()


def test_a_changed_query_prefix_is_a_new_query_tower(ranker: Ranker, bundle_root: Path, tmp_path: Path) -> None:
    """Same files, other text handling: the cached vectors would be wrong, so the cache is not carried."""
    import json

    from load_tests.chaos.broken_bundles import copy_version, switch_current

    old = ranker.bundle
    assert old is not None
    cache = old.query_cache
    d = copy_version(bundle_root, old.version_dir, "prefix")
    raw = json.loads((d / "manifest.json").read_text())
    raw["model"]["query_prefix"] = "query: "
    (d / "manifest.json").unlink()
    (d / "manifest.json").write_text(json.dumps(raw))
    switch_current(bundle_root, d.name)
    ranker.check_current()
    new = ranker.bundle
    assert new is not None and new.version == d.name
    assert new.model.reused == {"ad", "res"} and new.query_cache is not cache
    assert new.hashed == []  # every file is a hard link of a verified one


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_loading_beside_a_served_bundle_runs_niced_and_leaves_no_thread_niced(ranker: Ranker, bundle_root: Path,
                                                                               tmp_path: Path) -> None:
    base = thread_nice(threading.get_native_id())
    assert run_low_priority(lambda: thread_nice(threading.get_native_id())) == max(base, 10)
    _ad_only_update(bundle_root, tmp_path)
    ranker.check_current()
    ranker.rank_sync(_query("flug berlin"))
    niced = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            niced[tid] = thread_nice(int(tid))
        except OSError:  # the thread ended meanwhile
            continue
    assert all(n == base for n in niced.values()), niced


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_compute_threads_run_at_compute_nice_and_the_caller_does_not(bundle_root: Path) -> None:
    base = thread_nice(threading.get_native_id())
    r = Ranker(make_settings(bundle_root, compute_nice=5))
    try:
        r.reload()
        r.rank_sync(_query("flug berlin"))
        asyncio.run(r.rank(RankQuery(query="flug berlin", top_k=3, defect_weight=0.5,
                                     ads=[AdInput("x1", "Flug", "nach berlin", 1.0, 0.02)])))  # on a worker
        by_name = {t.name: thread_nice(t.native_id) for t in threading.enumerate() if t.native_id is not None}
        compute = {n: v for n, v in by_name.items() if n.startswith(("batcher-", "rank_"))}
        assert any(n.startswith("batcher-") for n in compute) and any(n.startswith("rank_") for n in compute)
        assert all(v == max(base, 5) for v in compute.values()), compute
        assert thread_nice(threading.get_native_id()) == base
    finally:
        r.close()


def test_low_priority_hashing_agrees_with_sha256(bundle_root: Path) -> None:
    files = sorted(p for p in next(bundle_root.glob("v*")).iterdir() if p.is_file())
    assert hash_low_priority(files, in_process_below=0) == {p: sha256_file(p) for p in files}
    with pytest.raises(BundleError, match="checksum helper failed"):
        hash_low_priority([files[0], bundle_root], in_process_below=0)  # a directory: the helper cannot read it
    with pytest.raises(BundleError, match="missing"):
        hash_low_priority([files[0], bundle_root / "gone.bin"], in_process_below=0)


def _metrics(ranker: Ranker) -> str:
    from prometheus_client import generate_latest

    return generate_latest(ranker.metrics.registry).decode()
