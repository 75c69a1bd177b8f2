"""Benchmark part 3: retrieval over 1M ad vectors, exact (Flat) vs ANN, with recall@k against exact search.

The vectors are `offline.publish.recall.synthetic_unit_vectors` (encoding a real 1M-ad catalog with the
12-layer ad tower would take hours on two cores), cached under the work directory; the same vectors back the
1M-ad bundle of the end-to-end part.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from offline.publish.recall import recall, synthetic_unit_vectors

DIM = 128


def synthetic_vectors(work: Path, n: int, dim: int = DIM, nq: int = 1000, seed: int = 1338) -> tuple[Path, np.ndarray]:
    """(path of an (n, dim) float32 .npy of unit vectors, (nq, dim) queries from the same distribution)."""
    path = work / f"synthetic_{n}x{dim}.npy"
    qpath = work / f"synthetic_{n}x{dim}_queries.npy"
    if not (path.exists() and qpath.exists()):
        xb, xq = synthetic_unit_vectors(n, nq, dim, seed)
        work.mkdir(parents=True, exist_ok=True)
        np.save(qpath, xq)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, xb)
        tmp.replace(path)
    return path, np.load(qpath)


def per_query_ms(index, xq: np.ndarray, k: int) -> dict:
    ts, cs = [], []
    for q in xq:
        c0, t0 = time.process_time(), time.perf_counter()
        index.search(q[None, :], k)
        ts.append((time.perf_counter() - t0) * 1000)
        cs.append((time.process_time() - c0) * 1000)
    a, c = np.asarray(ts), np.asarray(cs)
    return {"p50_ms": round(float(np.median(a)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "mean_ms": round(float(a.mean()), 4), "cpu_p50_ms": round(float(np.median(c)), 4), "queries": len(a)}


def retrieval(work: Path, n: int = 1_000_000, factory: str = "IVF1024,Flat",
              nprobes: tuple[int, ...] = (4, 8, 16, 32, 64), threads: int = 1, n_timed: int = 200,
              n_recall: int = 200, k: int = 100, served_index: Path | None = None,
              ef_searches: tuple[int, ...] = (32, 64, 128, 256), served_factory: str | None = None) -> dict:
    """Exact vs ANN over `n` vectors: build time, per-query latency (batch 1), recall@10 and recall@k.
    `served_index`: a FAISS index over the same vectors (the end-to-end bundle's HNSW), measured too."""
    import faiss

    faiss.omp_set_num_threads(threads)
    vec_path, xq = synthetic_vectors(work, n)
    xb = np.load(vec_path, mmap_mode="r")
    xb = np.ascontiguousarray(xb)
    out: dict = {"n": n, "dim": xb.shape[1], "threads": threads, "k": k,
                 "vectors": "synthetic, low intrinsic dimension (faiss SyntheticDataset), L2-normalised"}

    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    out["exact"] = {"factory": "Flat", **per_query_ms(flat, xq[:max(20, n_timed // 5)], k)}
    faiss.omp_set_num_threads(2)  # ground truth and the index build use both cores; timings use `threads`
    _, truth = flat.search(xq[:n_recall], k)
    del flat

    t0 = time.perf_counter()
    index = faiss.index_factory(xb.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        rng = np.random.default_rng(0)
        index.train(xb[np.sort(rng.choice(n, min(n, 256 * 1024), replace=False))])
    index.add(xb)
    out["ann_build_s"] = round(time.perf_counter() - t0, 1)
    faiss.omp_set_num_threads(threads)
    out["ann"] = []
    ps = faiss.ParameterSpace()

    def measure(index, name: str, param: str, values: tuple[int, ...]) -> None:
        for value in values:
            ps.set_index_parameters(index, f"{param}={value}")
            _, got = index.search(xq[:n_recall], k)
            lat = per_query_ms(index, xq[:n_timed], k)
            out["ann"].append({"factory": name, param: value, **lat,
                               "recall_at_10": round(recall(got, truth, 10), 4),
                               "recall_at_100": round(recall(got, truth, k), 4),
                               "speedup_vs_exact_p50": round(out["exact"]["p50_ms"] / lat["p50_ms"], 1),
                               "cpu_speedup_vs_exact_p50": round(
                                   out["exact"]["cpu_p50_ms"] / max(lat["cpu_p50_ms"], 1e-3), 1)})

    measure(index, factory, "nprobe", nprobes)
    del index
    if served_index is not None and served_index.exists():
        served = faiss.read_index(str(served_index))
        if served.ntotal == n and "HNSW" in type(served).__name__:
            measure(served, f"{served_factory or 'HNSW'} (the e2e bundle's index)", "efSearch", ef_searches)
    return out


def ann_label(row: dict) -> str:
    """'IVF1024,Flat nprobe=32' or 'HNSW32 efSearch=128' for a row of `retrieval()["ann"]`."""
    param = "nprobe" if "nprobe" in row else "efSearch"
    return f"{row['factory']} {param}={row[param]}"
