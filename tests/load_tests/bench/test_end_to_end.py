"""The end-to-end benchmark path on a tiny real bundle: synthetic vectors → published bundle →
`twinrank serve` in a child process → open-loop /rank runs and a sweep over real HTTP."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from load_tests.bench.end_to_end import end_to_end
from load_tests.bench.generator_overhead import generator_overhead
from load_tests.bench.retrieval import synthetic_vectors
from load_tests.bench.synthetic_bundle import build_synthetic_bundle
from service.bundle import load_manifest
from tests.utils.bundles import tiny_model_dir


def test_synthetic_bundle_served_and_loaded(tiny_base_dir, tmp_path):
    model = tiny_model_dir(tiny_base_dir, tmp_path / "model", int8=False)
    vec_path, xq = synthetic_vectors(tmp_path, 3000, dim=16, nq=10)
    xb = np.load(vec_path)
    assert xb.shape == (3000, 16) and np.allclose(np.linalg.norm(xb, axis=1), 1, atol=1e-5)
    root = tmp_path / "bundles"
    version = build_synthetic_bundle(root, model, vec_path, factory="IVF16,Flat")
    m = load_manifest(version)
    assert m.index.n_ads == 3000 and m.index.factory == "IVF16,Flat"
    assert build_synthetic_bundle(root, model, vec_path, factory="IVF16,Flat") == version  # reused, not rebuilt
    index_inode = (version / m.index.file).stat().st_ino
    retrained = tiny_model_dir(tiny_base_dir, tmp_path / "model2", int8=False, seed=1)
    rebuilt = build_synthetic_bundle(root, retrained, vec_path, factory="IVF16,Flat")
    assert rebuilt != version  # a re-exported student is benchmarked, not the stale bundle
    assert load_manifest(rebuilt).files[m.index.file] == m.files[m.index.file]
    assert (rebuilt / m.index.file).stat().st_ino == index_inode  # same vectors and kind: linked, not rebuilt
    other = build_synthetic_bundle(root, retrained, vec_path, factory="Flat")
    assert load_manifest(other).index.factory == "Flat"  # another index kind is built afresh
    version = build_synthetic_bundle(root, model, vec_path, factory="IVF16,Flat")

    out = end_to_end(tmp_path, root, None, rate=20, duration=2, sweep_rates=(20, 40), sweep_duration=1.5,
                     slo_ms=2000, warmup=0.5, repeats=2)
    assert len(out["fixed_rate"]["runs"]) == 2
    run = out["fixed_rate"]["runs"][0]
    assert run["errors"] == {} and run["ok"] == run["scheduled"] == 40, out["server_log_tail"]
    assert {"tokenize", "encode", "retrieve", "score", "total"} <= set(run["server_stages_ms"])
    assert run["server_cpu_ms_per_request"] > 0
    by_thread = run["server_cpu_ms_per_request_by_thread"]
    assert {"event_loop", "query_batcher", "rank_workers", "other", "unattributed"} == set(by_thread)
    assert by_thread["event_loop"] > 0 and by_thread["query_batcher"] > 0
    by_stage = run["server_cpu_ms_per_request_by_stage"]
    assert {"query_encode", "candidates", "score"} == set(by_stage) and min(by_stage.values()) > 0
    # query-only requests: the batcher encodes, the event loop searches and scores (retrieve_on_event_loop);
    # a stage cannot take more than its thread's CPU
    assert by_stage["query_encode"] <= by_thread["query_batcher"] * 1.05 + 0.05
    assert by_stage["candidates"] + by_stage["score"] <= by_thread["event_loop"] * 1.05 + 0.05
    assert out["sweep"]["max_rps_meeting_slo"] == 40
    assert out["bundle"]["n_ads"] == 3000

    from load_tests.bench.headline import headline
    from load_tests.bench.report import write_perf

    doc = {"sections": {"end_to_end": out}} | headline({"end_to_end": out})
    each = [r["latency_ms"]["p99_ms"] for r in out["fixed_rate"]["runs"]]
    assert doc["rank_p99_ms_at_200rps_1M_ads_each_run"] == each
    assert doc["rank_p99_ms_at_200rps_1M_ads"] == min(each)  # the lower middle of two runs
    assert doc["max_rps_at_p99_20ms"] == 40
    paths = write_perf(tmp_path / "perf", doc)
    md = (tmp_path / "perf" / "perf.md").read_text()
    assert "Where the time goes" in md and "Server CPU" in md
    assert {p.name for p in paths} >= {"perf.json", "perf.md", "rank_1M_latency_vs_rate.png"}


def test_generator_overhead_against_trivial_server(tmp_path):
    out = generator_overhead(tmp_path, rates=(100, 200), duration=1.0)
    assert [r["offered_rps"] for r in out["runs"]] == [100, 200]
    assert all(r["errors"] == {} and r["generator_cpu_us_per_request"] > 0 for r in out["runs"])


def test_locustfile_runs_headless_against_local_server(echo, tmp_path):
    _, url = echo()
    res = subprocess.run([sys.executable, "-m", "locust", "-f", "load_tests/tools/locustfile.py", "--headless",
                          "-u", "2", "-r", "2", "-t", "3s", "--host", url, "--csv", str(tmp_path / "lc"),
                          "--only-summary"],
                         capture_output=True, text=True, timeout=60)
    stats = (tmp_path / "lc_stats.csv").read_text()
    aggregated = [line for line in stats.splitlines() if line.startswith(",Aggregated")][0].split(",")
    assert int(aggregated[2]) >= 2 and int(aggregated[3]) == 0, res.stderr[-2000:]  # requests, failures


def test_ads_mode_requests_are_accepted_by_the_real_service(tiny_base_dir, tmp_path):
    """Both /rank modes in one run: stored ads from the bundle's table and synthetic ads the service encodes."""
    from common.net import free_port
    from load_tests.bench.server import Server
    from load_tests.tools.loadtest import run_loadtest
    from load_tests.tools.spec import LoadTestSpec

    model = tiny_model_dir(tiny_base_dir, tmp_path / "model", int8=False)
    vec_path, _ = synthetic_vectors(tmp_path, 500, dim=16, nq=5)
    root = tmp_path / "bundles"
    version = build_synthetic_bundle(root, model, vec_path, factory="Flat")
    server = Server(root, free_port(), tmp_path / "serve.log")
    try:
        for table in (version / "ads.parquet", None):
            doc = run_loadtest(LoadTestSpec(url=server.url, rates=[20], duration=1.0, warmup=0, ads_ratio=0.5,
                                            ads_per_request=5, ads_table=str(table) if table else None,
                                            ready_timeout=120, progress=False), None)
            run = doc["runs"][0]
            assert run["errors"] == {} and run["ok"] == 20, (run["errors"], server.log_path.read_text()[-2000:])
            assert set(run["latency_by_mode_ms"]) == {"ads", "query"}
    finally:
        server.stop()


def test_synthetic_bundle_index_is_not_reused_over_other_vectors(tiny_base_dir, tmp_path):
    model = tiny_model_dir(tiny_base_dir, tmp_path / "model", int8=False)
    vec_path, _ = synthetic_vectors(tmp_path, 400, dim=16, nq=5)
    root = tmp_path / "bundles"
    first = build_synthetic_bundle(root, model, vec_path, factory="Flat")
    first_inode = (first / "ads.faiss").stat().st_ino
    copied = tmp_path / "copy.npy"
    np.save(copied, np.load(vec_path))  # equal bytes in another file: still the same vectors
    assert build_synthetic_bundle(root, model, copied, factory="Flat") == first
    shifted = tmp_path / "shifted.npy"
    np.save(shifted, np.roll(np.load(vec_path), 1, axis=0))
    fresh = build_synthetic_bundle(root, model, shifted, factory="Flat")
    assert fresh != first and (fresh / "ads.faiss").stat().st_ino != first_inode
    assert np.array_equal(np.load(fresh / "ad_vectors.npy"), np.load(shifted))
