"""Pure parts of the load generator: HDR percentiles vs numpy, arrival schedules, query pools, request mix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from load_tests.generator.mix import build_mix, synthetic_ads
from load_tests.generator.queries import builtin_queries, load_queries, read_query_file, read_query_stream
from load_tests.generator.schedule import arrival_times
from load_tests.generator.stats import RunStats


def test_hdr_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    lat_s = rng.lognormal(mean=np.log(0.004), sigma=0.6, size=20_000)
    stats = RunStats()
    for v in lat_s:
        stats.record_ok(float(v), "query")
    s = stats.summary(offered_rps=100, duration_s=200, wall_s=200)["latency_ms"]
    for key, p in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99), ("p99_9_ms", 99.9)):
        ref = np.percentile(lat_s * 1000, p, method="inverted_cdf")
        assert s[key] == pytest.approx(ref, rel=2e-3), key  # HDR keeps 3 significant digits
    assert s["max_ms"] == pytest.approx(lat_s.max() * 1000, rel=2e-3)
    assert s["count"] == 20_000


def test_summary_counts_errors_and_rates():
    stats = RunStats(scheduled=10)
    for _ in range(8):
        stats.record_ok(0.002, "query")
    stats.record_error("timeout")
    stats.record_error("http_503")
    s = stats.summary(offered_rps=5, duration_s=2, wall_s=2.1)
    assert s["errors"] == {"timeout": 1, "http_503": 1}
    assert s["error_rate"] == pytest.approx(0.2)
    assert s["achieved_rps"] == 4.0
    assert sum(c for _, c in s["histogram_ms"]) == 8


def test_constant_arrivals_are_evenly_spaced():
    t = arrival_times(200, 3.0)
    assert len(t) == 600 and t[0] == 0.0
    assert np.allclose(np.diff(t), 1 / 200)


def test_poisson_arrivals_have_the_rate_and_exponential_gaps():
    t = arrival_times(500, 20.0, "poisson", seed=3)
    assert abs(len(t) - 10_000) < 4 * np.sqrt(10_000)
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(1 / 500, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # coefficient of variation of an exponential
    assert (t < 20.0).all() and (np.diff(t) >= 0).all()


@pytest.mark.parametrize(
    "bad", [dict(rate=0, duration=1), dict(rate=10, duration=0), dict(rate=10, duration=1, arrivals="burst")]
)
def test_schedule_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        arrival_times(**bad)


def test_query_file_plain_and_tsv_with_crlf(tmp_path):
    plain = tmp_path / "q.txt"
    plain.write_bytes(b"laufschuhe damen\r\n\r\nfahrrad\r\nlaufschuhe damen\r\n")
    assert read_query_file(plain) == ["laufschuhe damen", "fahrrad"]
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes(b"zelt kaufen\tZelte\tGuenstig\tGood\r\nsofa\tSofas\tJetzt\tBad\r\n")
    assert read_query_file(tsv) == ["zelt kaufen", "sofa"]
    with pytest.raises(FileNotFoundError, match="not found"):
        read_query_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="no queries"):
        read_query_file(tmp_path / "empty.txt")


def test_query_stream_keeps_every_row_in_a_seeded_shuffle(tmp_path):
    from collections import Counter

    tsv = tmp_path / "t.tsv"
    rows = ["zelt kaufen"] * 5 + ["sofa"] * 3 + ["fahrrad"]
    tsv.write_text("".join(f"{q}\tTitel\tText\tGood\n" for q in rows))
    stream = read_query_stream(tsv, seed=3)
    assert Counter(stream) == Counter(rows) and stream == read_query_stream(tsv, seed=3)
    assert stream != rows  # not the file's grouped order
    reqs = build_mix(stream, n_bodies=len(stream), in_order=True)
    assert [json.loads(r.body)["query"] for r in reqs] == stream


def test_builtin_queries_are_deterministic():
    assert builtin_queries(20, seed=1) == builtin_queries(20, seed=1)
    assert len(load_queries(None, limit=30)) == 30


def test_mix_has_the_set_ratio_and_valid_bodies():
    qs = builtin_queries(100)
    reqs = build_mix(qs, ads_ratio=0.3, ads_per_request=5, n_bodies=1000, top_k=7)
    modes = [r.mode for r in reqs]
    assert modes.count("ads") == 300
    for r in reqs[:50]:
        body = json.loads(r.body)
        assert body["top_k"] == 7 and body["query"] in qs
        assert ("ads" in body) == (r.mode == "ads")
        if r.mode == "ads":
            assert len(body["ads"]) == 5 and len({a["ad_id"] for a in body["ads"]}) == 5
    with pytest.raises(ValueError, match="ads_ratio"):
        build_mix(qs, ads_ratio=1.5)
    with pytest.raises(ValueError, match="ad pool"):
        build_mix(qs, ads_ratio=0.5, ads_per_request=10, ad_pool=synthetic_ads(qs, 3))
