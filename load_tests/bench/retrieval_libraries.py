"""Benchmark part `libraries`: FAISS HNSW32,SQ8 (what bundles use), FAISS IVF-PQ, hnswlib and usearch (i8) on
the same vectors: recall@100 against exact search (FAISS flat inner product), latency per query at one thread,
build time, serialised index bytes and RSS growth.

Two vector sets: the shipped student's own vectors (its ad tower over real ads, its query tower over the QADSM
test queries; `student_vectors`) and the bench's 1M synthetic set (`retrieval.synthetic_vectors`). Latency is
taken interleaved: every operating point of every library times the same slice of queries in turn, slice after
slice, so a loaded machine's slow minutes fall on all of them alike; compare ratios, not absolute times.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from load_tests.bench.ann_libraries import Library, libraries
from offline.publish.recall import recall

SETS = ("student", "synthetic")


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _ms(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.median(a)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "mean_ms": round(float(a.mean()), 4)}


def compare(xb: np.ndarray, xq: np.ndarray, k: int = 100, n_recall: int = 1000, n_timed: int = 300,
            build_threads: int = 2, slice_size: int = 20, libs: list[Library] | None = None,
            log: Callable[[str], None] = lambda m: None) -> dict:
    """Every available library over `xb` (unit float32 rows), queried with `xq`; see the module docstring."""
    import faiss

    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    n, dim = xb.shape
    qr, qt = xq[:n_recall], xq[:n_timed]
    faiss.omp_set_num_threads(build_threads)
    t = time.perf_counter()
    _, truth = faiss.knn(qr, xb, k, metric=faiss.METRIC_INNER_PRODUCT)
    out: dict = {"n": n, "dim": dim, "k": k, "n_recall_queries": len(qr), "n_timed_queries": len(qt),
                 "build_threads": build_threads, "search_threads": 1,
                 "exact_ground_truth_s": round(time.perf_counter() - t, 2), "libraries": [], "libraries_skipped": {}}
    flat = faiss.IndexFlatIP(dim)
    flat.add(xb)
    faiss.omp_set_num_threads(1)
    built: list[tuple[Library, object]] = []
    for lib in libs or libraries(n, dim):
        if not lib.available():
            out["libraries_skipped"][lib.name] = f"skipped: {lib.module} not installed (pip install 'twinrank[bench]')"
            continue
        gc.collect()
        rss0 = _rss()
        t = time.perf_counter()
        index = lib.build(xb, build_threads)
        build_s = time.perf_counter() - t
        gc.collect()
        row = {"library": lib.name, "param": lib.param, "settings": lib.settings, "shipped_value": lib.shipped_value,
               "build_s": round(build_s, 2), "rss_growth_bytes": _rss() - rss0, "index_bytes": lib.nbytes(index),
               "points": []}
        log(f"{lib.name}: built over {n:,} in {build_s:.1f} s")
        for v in lib.values:
            lib.set(index, v)
            got = lib.search(index, qr, k)
            row["points"].append({lib.param: v, "recall_at_100": round(recall(got, truth, k), 4),
                                  "recall_at_10": round(recall(got[:, :10], truth[:, :10], 10), 4)})
        out["libraries"].append(row)
        built.append((lib, index))
    times = _interleaved_latency(built, flat, qt, k, slice_size)
    out["exact_flat"] = {"library": "faiss Flat (exact)", **_ms(times.pop(("exact", 0)))}
    for (lib, _), row in zip(built, out["libraries"], strict=True):
        for p in row["points"]:
            p.update(_ms(times[(lib.name, p[lib.param])]))
    out["verdict"] = verdict(out)
    return out


def _interleaved_latency(built: list[tuple[Library, object]], flat, qt: np.ndarray, k: int,
                         slice_size: int) -> dict[tuple[str, int], list[float]]:
    """Seconds per single-query search for each (library, value), slice by slice, the order rotating each slice;
    exact flat search times every fourth slice (it is 100× slower)."""
    points = [(lib, index, v) for lib, index in built for v in lib.values]
    times: dict[tuple[str, int], list[float]] = {(lib.name, v): [] for lib, _, v in points}
    times[("exact", 0)] = []
    for s, start in enumerate(range(0, len(qt), slice_size)):
        queries = qt[start:start + slice_size]
        order = points[s % max(1, len(points)):] + points[:s % max(1, len(points))]
        for lib, index, v in order:
            lib.set(index, v)
            lib.search(index, queries[:1], k)  # after a knob change, warm the caches once
            for q in queries:
                t = time.perf_counter()
                lib.search(index, q[None, :], k)
                times[(lib.name, v)].append(time.perf_counter() - t)
        if s % 4 == 0:
            for q in queries[:5]:
                t = time.perf_counter()
                flat.search(q[None, :], k)
                times[("exact", 0)].append(time.perf_counter() - t)
    return times


def verdict(out: dict) -> dict:
    """Against the shipped point (FAISS HNSW32,SQ8 at the bundles' efSearch): each other library's fastest point
    with recall@100 at least the shipped point's, and whether it wins on both recall and time."""
    rows = {r["library"]: r for r in out["libraries"]}
    base_row = next((r for r in out["libraries"] if r["settings"].get("shipped")), None)
    if base_row is None:
        return {"baseline": None}
    base = next(p for p in base_row["points"] if p[base_row["param"]] == base_row["shipped_value"])
    res: dict = {"baseline": {"library": base_row["library"], base_row["param"]: base_row["shipped_value"],
                              "recall_at_100": base["recall_at_100"], "p50_ms": base["p50_ms"],
                              "p99_ms": base["p99_ms"]}, "others": {}}
    for name, r in rows.items():
        if r is base_row:
            continue
        ok = [p for p in r["points"] if p["recall_at_100"] >= base["recall_at_100"]]
        best = min(ok, key=lambda p: p["p50_ms"]) if ok else None
        res["others"][name] = {
            "fastest_point_at_baseline_recall": None if best is None else {r["param"]: best[r["param"]],
                                                                            "recall_at_100": best["recall_at_100"],
                                                                            "p50_ms": best["p50_ms"],
                                                                            "p99_ms": best["p99_ms"]},
            "p50_ratio_to_baseline": None if best is None else round(best["p50_ms"] / base["p50_ms"], 3),
            "best_recall_at_100": max(p["recall_at_100"] for p in r["points"]),
            "wins_on_recall_and_time": best is not None and best["p50_ms"] < base["p50_ms"],
        }
    return res


def student_set(model_dir: Path, qadsm_dir: Path, work: Path, n_ads: int, budget_s: float,
                log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(ad vectors, query vectors, where they came from) of the shipped student over real ads."""
    from load_tests.bench.student_vectors import catalog_texts, encode_cached, test_queries

    texts, counts = catalog_texts(qadsm_dir, n_ads)
    xb, info = encode_cached(model_dir, "ad", texts, work, threads=2, budget_s=budget_s, log=log)
    queries = test_queries(qadsm_dir)
    xq, qinfo = encode_cached(model_dir, "query", queries, work, threads=2, log=log)
    got = len(xb)
    kinds, left = {}, got
    for name, c in counts.items():  # the catalog is in source order: the first `got` ads
        kinds[name], left = min(c, left), max(0, left - c)
    return xb, xq, {"model": str(model_dir), "ads": info | {"by_source": kinds},
                    "queries": qinfo | {"source": "distinct QADSM test queries, query tower"}}


def retrieval_libraries(work: Path, sets: tuple[str, ...], model_dir: Path, qadsm_dir: Path | None,
                        student_ads: int, encode_budget_s: float, synthetic_n: int, quick: bool = False,
                        log: Callable[[str], None] = lambda m: None, previous: dict | None = None) -> dict:
    """The part's section: one `compare` per vector set asked; sets not asked are kept from `previous`."""
    from common.machine import load_average
    from load_tests.bench.retrieval import synthetic_vectors

    out: dict = {"sets": dict((previous or {}).get("sets", {}))}

    def meta() -> dict:  # each set records its own run: sets can be rerun apart (`--library-sets`)
        return {"ran_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average_before": load_average()}

    n_timed, n_recall = (60, 200) if quick else (300, 1000)
    if "student" in sets:
        if qadsm_dir is None:
            out["sets"]["student"] = {"skipped": "needs the QADSM files (--qadsm-dir, or --queries <dir>/test.txt)"}
        else:
            m = meta()
            xb, xq, source = student_set(model_dir, qadsm_dir, work, student_ads, encode_budget_s, log)
            log(f"student vectors: {len(xb):,} ads, {len(xq):,} queries")
            out["sets"]["student"] = {"vectors": source, **compare(xb, xq, n_recall=n_recall, n_timed=n_timed,
                                                                   log=log),
                                      "_meta": m | {"load_average_after": load_average()}}
    if "synthetic" in sets:
        m = meta()
        vec_path, xq = synthetic_vectors(work, synthetic_n)
        xb = np.load(vec_path)
        out["sets"]["synthetic"] = {"vectors": {"source": "the bench's synthetic set (faiss SyntheticDataset, low "
                                                          "intrinsic dimension, L2-normalised)", "path": vec_path.name},
                                    **compare(xb, xq, n_recall=n_recall, n_timed=n_timed, log=log),
                                    "_meta": m | {"load_average_after": load_average()}}
    out["note"] = ("Measured on a shared 2-core VM under heavy load (load average ~10): absolute times are "
                   "inflated and noisy; latency is interleaved across libraries, so compare ratios.")
    return out
