"""The realistic-traffic part on a tiny real bundle: both streams against fresh `twinrank serve` children, the
replayed stream earning cache hits from its repeats and the distinct one (cache off) none."""

from __future__ import annotations

from load_tests.bench.addendum_report import traffic_md
from load_tests.bench.traffic import realistic_traffic
from tests.utils.bundles import build_tiny_bundle, write_catalog


def test_replayed_stream_hits_the_cache_and_the_distinct_one_cannot(model_dir, tmp_path):
    root = tmp_path / "bundles"
    build_tiny_bundle(model_dir, write_catalog(tmp_path / "ads.jsonl", n=40), root)
    queries = tmp_path / "queries.txt"
    rows = ["laufschuhe damen"] * 20 + ["fahrrad kaufen"] * 12 + [f"anfrage {i}" for i in range(8)]
    queries.write_text("".join(f"{q}\n" for q in rows))
    out = realistic_traffic(tmp_path, root, str(queries), rate=20, repeats=1, warmup=0.5, duration=2,
                             log=lambda _: None)
    assert out["stream_rows"] == 40 and out["duration_s"] == 2
    replay, distinct = out["runs"]["replay_cache_on"][0], out["runs"]["distinct_cache_off"][0]
    assert replay["errors"] == {} and distinct["errors"] == {}
    assert distinct["cache_hit_rate"] == 0.0  # cache off: every request counts as a miss
    # 10 distinct queries in the stream: at least 3 of every 4 lookups can hit
    assert replay["cache_hit_rate"] >= 0.5 and replay["distinct_queries"] == 10
    assert out["median"]["replay_cache_on"]["server_cpu_ms_per_request"] > 0
    assert "| replay_cache_on (median) |" in traffic_md(out)
