"""The peers part on tiny models: the user-written sentence-transformers + FAISS + FastAPI service (over the tiny
transformers base) and `twinrank serve` with and without its fast path (over the tiny exported student), each
swept over real HTTP by the open-loop generator, the test AUC of each, and the report through the runner."""

from __future__ import annotations

import json
from pathlib import Path

from load_tests.bench.peers import PEER, STACKS, compare
from load_tests.bench.runner import BenchOptions, run_bench

QUERIES = ["laufschuhe damen", "winterjacke herren", "flug berlin", "gartenmoebel holz", "kinderfahrrad",
           "wohnung mieten"]
ADS = [("Laufschuhe für Damen", "Jetzt im Sale"), ("Herren Jacken", "für den Winter"),
       ("Billigflüge nach Berlin", "vergleichen")]


def _write_splits(d: Path) -> Path:
    d.mkdir()
    rows = [f"{q}\t{t}\t{desc}\t{'Good' if i % len(ADS) == j else 'Bad'}"
            for i, q in enumerate(QUERIES) for j, (t, desc) in enumerate(ADS)]
    for split in ("train", "dev", "test"):
        (d / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return d


def test_peers_part_through_the_runner(tiny_base_dir, model_dir, tmp_path):
    out = tmp_path / "perf"
    out.mkdir()
    other = {"skipped": "a part this run must keep", "_meta": {"command": "an earlier run"}}
    (out / "perf.json").write_text(json.dumps({"sections": {"encoder_runtimes": other}}))
    opts = BenchOptions(only=["peers"], out=out, work=tmp_path / "work", model=model_dir,
                        peer_model=str(tiny_base_dir), peer_ads=40, peer_sweep=(10,), peer_sweep_s=1.0,
                        qadsm_dir=_write_splits(tmp_path / "qadsm"), quick=True, command="twinrank bench --only peers")
    doc = run_bench(opts)

    pe = doc["sections"]["peers"]
    assert set(pe["stacks"]) == set(STACKS)
    for name, s in pe["stacks"].items():
        first = s["sweep"]["runs"][0]
        assert first["offered_rps"] == 10 and first["errors"] == {}, (name, s["server_log_tail"])
        assert first["ok"] == first["scheduled"] > 0 and first["server_cpu_ms_per_request"] > 0
    assert pe["stacks"]["twinrank_fastapi_route"]["server_env"]["TWINRANK_FAST_RANK_PATH"] == "false"
    assert pe["catalog"]["n_ads"] == 40 and pe["catalog"]["peer_index"].startswith("FAISS IndexFlatIP")
    c = pe["comparison"]
    assert c["common_rate_rps"] == 10
    for row in c["stacks"].values():
        assert row["p99_ms_at_common_rate"] > 0 and row["server_cpu_ms_per_request_at_common_rate"] > 0
        assert row["error_rate_at_common_rate"] == 0.0
    assert set(c["ratios_vs_peer"]) == {"twinrank_fastapi_route", "twinrank_shipped"}
    assert all(r["peer_cpu_over_this_cpu"] > 0 for r in c["ratios_vs_peer"].values())

    q = pe["quality"]
    assert q["stacks"][PEER]["rows"] == len(QUERIES) * len(ADS) == q["stacks"]["twinrank_shipped"]["rows"]
    assert all(0.0 <= s["roc_auc"] <= 1.0 for s in q["stacks"].values())
    assert q["stacks"]["twinrank_shipped"]["from"].endswith("computed now")  # the tiny student has no record

    saved = json.loads((out / "perf.json").read_text())
    assert saved["sections"]["encoder_runtimes"] == other  # other parts are not regenerated
    assert set(saved["peers"]["stacks"]) == set(STACKS) and saved["peers"]["stacks"][PEER]["test_roc_auc"] >= 0
    md = (out / "peers.md").read_text()
    assert "| stack | highest rate with p99" in md and "ROC-AUC" in md and "less server CPU per request" in md
    assert (out / "peers.png").stat().st_size > 0 and "peers.md" in (out / "perf.md").read_text()


def _stack(max_rps, runs):
    return {"max_rps_meeting_slo": max_rps, "sweep": {"runs": [
        {"offered_rps": r, "latency_ms": {"p99_ms": p99}, "server_cpu_ms_per_request": cpu, "error_rate": 0.0}
        for r, p99, cpu in runs]}}


def test_common_rate_and_ratios():
    stacks = {PEER: _stack(50, [(25, 12.0, 30.0), (50, 18.0, 28.0), (100, 90.0, 27.0)]),
              "twinrank_shipped": _stack(400, [(25, 3.0, 2.0), (50, 3.0, 1.9), (400, 9.0, 1.5), (600, 30.0, 1.4)])}
    c = compare(stacks, (25, 50, 100, 400, 600))
    assert c["common_rate_rps"] == 50  # the lowest of the highest passing rates
    assert c["stacks"][PEER]["p99_ms_at_common_rate"] == 18.0
    assert c["ratios_vs_peer"]["twinrank_shipped"] == {"peer_cpu_over_this_cpu": round(28.0 / 1.9, 2),
                                                       "this_rate_at_slo_over_peer_rate": 8.0,
                                                       "peer_meets_slo_at_no_rate": False}
    stacks[PEER] = _stack(None, [(25, 45.0, 30.0)])  # the peer never meets the SLO: the lowest rate is common
    c = compare(stacks, (25, 50, 100, 400, 600))
    assert c["common_rate_rps"] == 25 and c["stacks"][PEER]["p99_ms_at_common_rate"] == 45.0
    r = c["ratios_vs_peer"]["twinrank_shipped"]
    assert r["this_rate_at_slo_over_peer_rate"] is None and r["peer_meets_slo_at_no_rate"] is True
