"""The libraries part on 2k random unit vectors: every installed library built, swept and timed; the verdict
and the addendum files written; a library that is not installed is skipped, not failed."""

import json

import numpy as np
import pytest

from load_tests.bench.addendum_report import summary_keys, write_addenda
from load_tests.bench.ann_libraries import Library, libraries
from load_tests.bench.retrieval_libraries import compare, verdict


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def small_run() -> dict:
    xb, xq = _unit(2000, 32, 0), _unit(60, 32, 1)
    return compare(xb, xq, k=100, n_recall=60, n_timed=20, build_threads=1, slice_size=10)


def test_every_installed_library_is_built_swept_and_timed(small_run):
    installed = [lib.name for lib in libraries(2000, 32) if lib.available()]
    assert [r["library"] for r in small_run["libraries"]] == installed
    assert set(small_run["libraries_skipped"]) == {lib.name for lib in libraries(2000, 32)} - set(installed)
    for r in small_run["libraries"]:
        assert len(r["points"]) == 5 and r["index_bytes"] > 0 and r["build_s"] >= 0
        for p in r["points"]:
            assert 0.0 <= p["recall_at_100"] <= 1.0 and 0 < p["p50_ms"] <= p["p99_ms"]
    by = {r["library"]: r for r in small_run["libraries"]}
    hnsw = [p["recall_at_100"] for p in by["faiss HNSW32,SQ8"]["points"]]
    assert hnsw[-1] > 0.9  # efSearch 384 over 2k vectors: nearly exact
    ivf = [p["recall_at_100"] for p in next(r for n, r in by.items() if "IVF" in n)["points"]]
    assert ivf[0] < ivf[-1]  # more lists probed, more recall (PQ codes cap it below 1)
    assert small_run["exact_flat"]["p50_ms"] > 0


def test_verdict_needs_baseline_recall_and_a_lower_p50():
    def row(name, param, shipped, points):
        return {"library": name, "param": param, "shipped_value": shipped, "settings": {"shipped": shipped is not None},
                "points": [{param: v, "recall_at_100": r, "p50_ms": t, "p99_ms": t * 2} for v, r, t in points]}

    out = {"libraries": [row("base", "ef", 128, [(64, 0.90, 0.2), (128, 0.95, 0.3)]),
                         row("fast_but_worse", "ef", None, [(100, 0.94, 0.1)]),
                         row("better", "ef", None, [(100, 0.95, 0.5), (256, 0.99, 0.25)]),
                         row("slower", "ef", None, [(100, 0.96, 0.4)])]}
    v = verdict(out)
    assert v["baseline"]["recall_at_100"] == 0.95
    assert v["others"]["fast_but_worse"]["wins_on_recall_and_time"] is False
    assert v["others"]["fast_but_worse"]["fastest_point_at_baseline_recall"] is None
    assert v["others"]["better"]["wins_on_recall_and_time"] is True
    assert v["others"]["better"]["fastest_point_at_baseline_recall"]["ef"] == 256
    assert v["others"]["slower"]["wins_on_recall_and_time"] is False


def test_missing_library_is_reported_as_skipped():
    xb, xq = _unit(300, 16, 2), _unit(10, 16, 3)
    ghost = Library("ghost", "no_such_module_twinrank", "ef", (10,))
    out = compare(xb, xq, k=10, n_recall=10, n_timed=5, build_threads=1, libs=[ghost])
    assert out["libraries"] == [] and "not installed" in out["libraries_skipped"]["ghost"]


def test_addendum_files_and_perf_keys(small_run, tmp_path):
    sec = {"retrieval_libraries": {"sets": {"synthetic": {"vectors": {"source": "random"}, **small_run}},
                                   "_meta": {"command": "twinrank bench --only libraries"}}}
    written = write_addenda(tmp_path, sec)
    assert {p.name for p in written} == {"retrieval_libraries.json", "retrieval_libraries.md",
                                         "retrieval_libraries.png"}
    md = (tmp_path / "retrieval_libraries.md").read_text()
    assert "load average" in md and "efSearch=128 (shipped)" in md and "wins on recall and time" in md
    assert json.loads((tmp_path / "retrieval_libraries.json").read_text())["sets"]["synthetic"]["n"] == 2000
    keys = summary_keys(sec)
    assert keys["retrieval_libraries"]["synthetic"]["baseline"]["library"] == "faiss HNSW32,SQ8"
