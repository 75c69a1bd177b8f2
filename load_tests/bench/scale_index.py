"""Index builds at 1M–10M+ ads from vector shards (reports/scale): build time, peak RSS, recall@100 against exact.

Vectors are clustered, not uniform (uniform 128-d vectors make every ANN index look either trivial or hopeless):
unit vectors around Zipf-weighted cluster centres, generated shard by shard so no step holds the catalog. The
queries are a held-out draw from the same distribution. Exact neighbours: brute force with `faiss.knn` over each
shard, merged. Each build runs in a fresh process so its peak RSS (VmHWM) is the build's alone.

    python -m load_tests.bench.scale_index --n 1000000 --dir /tmp/vec1m --out reports/scale/index.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHARD_ROWS = 262_144
DIM = 128
SPREAD = 0.8  # noise norm relative to a unit centre: cos(x, centre) ≈ 0.78


def _centres(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = max(1000, n // 1000)
    c = rng.standard_normal((k, DIM)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    w = 1.0 / np.arange(1, k + 1) ** 0.8
    return c, w / w.sum()


def _draw(rng: np.random.Generator, centres: np.ndarray, weights: np.ndarray, m: int) -> np.ndarray:
    labels = rng.choice(len(centres), size=m, p=weights)
    x = centres[labels] + rng.standard_normal((m, DIM)).astype(np.float32) * np.float32(SPREAD / np.sqrt(DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def generate(n: int, out: Path, nq: int, seed: int = 7) -> list[Path]:
    """Write `n` vectors as .npy shards (and the held-out queries) under `out`; reuses shards already there."""
    out.mkdir(parents=True, exist_ok=True)
    centres, weights = _centres(n, seed)
    paths = []
    for i, start in enumerate(range(0, n, SHARD_ROWS)):
        p = out / f"part-{i:05d}.npy"
        if not p.exists():
            x = _draw(np.random.default_rng([seed, i]), centres, weights, min(SHARD_ROWS, n - start))
            np.save(out / f".tmp-{p.name}", x)
            (out / f".tmp-{p.name}").rename(p)
        paths.append(p)
    q = out / "queries.npy"
    if not q.exists():
        np.save(q, _draw(np.random.default_rng([seed, 10**9]), centres, weights, nq))
    return paths


def exact_topk(paths: list[Path], xq: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k ids over the concatenated shards (faiss.knn per shard, merged)."""
    import faiss

    heap = faiss.ResultHeap(len(xq), k, keep_max=True)
    start = 0
    for p in paths:
        x = np.load(p)
        dist, ids = faiss.knn(xq, x, k, metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(dist, np.where(ids >= 0, ids + start, -1))
        start += len(x)
    heap.finalize()
    return heap.I


def _peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it starts afresh at exec, not at the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_child(args: argparse.Namespace) -> None:
    """In a fresh process: build from the shards, then report time, RSS and the recall sweep as one JSON line."""
    import faiss

    from load_tests.bench.retrieval import per_query_ms
    from offline.publish.index_shards import VectorShard, build_sharded, index_bytes_per_ad
    from offline.publish.recall import recall

    faiss.omp_set_num_threads(args.threads)
    paths = sorted(Path(args.dir).glob("part-*.npy"))
    shards = [VectorShard.npy(p) for p in paths]
    rss0 = _peak_rss_mib()
    t = time.perf_counter()
    index, factory = build_sharded(shards, args.factory)
    build_s = time.perf_counter() - t
    peak = _peak_rss_mib()
    xq = np.load(Path(args.dir) / "queries.npy")
    truth = np.load(Path(args.dir) / f"truth-{args.k}.npy")
    n = index.ntotal
    out = {"n_ads": int(n), "dim": DIM, "factory": factory, "build_seconds": round(build_s, 1),
           "build_threads": args.threads, "peak_rss_mib": round(peak, 1), "rss_before_build_mib": round(rss0, 1),
           "index_bytes": int(len(faiss.serialize_index(index))) if n <= 2_000_000 else None,
           "index_bytes_per_ad_planned": index_bytes_per_ad(factory, DIM), "shards": len(shards),
           "shard_rows": SHARD_ROWS, "n_queries": len(xq), "k": args.k, "sweep": []}
    faiss.omp_set_num_threads(1)
    key = "efSearch" if factory.startswith("HNSW") else "nprobe"
    for v in ((64, 128, 256) if key == "efSearch" else (16, 32, 64, 128)):
        faiss.ParameterSpace().set_index_parameters(index, f"{key}={v}")
        _, got = index.search(xq, args.k)
        out["sweep"].append({key: v, "recall_at_k": round(recall(got, truth, args.k), 4),
                             "latency_ms_1thread": per_query_ms(index, xq[:100], args.k)})
    sys.stdout.write(json.dumps(out) + "\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--dir", required=True, help="where the vector shards go (reused when present)")
    p.add_argument("--factories", default="auto", help="FAISS factories separated by ;  (auto = by size)")
    p.add_argument("--nq", type=int, default=200)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="reports/scale/index.json")
    p.add_argument("--child-factory", dest="factory", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.factory is not None:
        build_child(args)
        return
    from offline.publish.index_shards import large_factory

    d = Path(args.dir)
    t = time.perf_counter()
    paths = generate(args.n, d, args.nq)
    gen_s = time.perf_counter() - t
    truth_path = d / f"truth-{args.k}.npy"
    t = time.perf_counter()
    if not truth_path.exists():
        np.save(truth_path, exact_topk(paths, np.load(d / "queries.npy"), args.k))
    exact_s = time.perf_counter() - t
    factories = [large_factory(args.n, DIM)] if args.factories == "auto" else args.factories.split(";")
    out_path = Path(args.out)
    for f in factories:
        cmd = [sys.executable, "-m", "load_tests.bench.scale_index", "--n", str(args.n), "--dir", args.dir,
               "--k", str(args.k), "--threads", str(args.threads), "--child-factory", f]
        res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        run = json.loads(res.stdout.strip().splitlines()[-1])
        run |= {"generate_seconds": round(gen_s, 1), "exact_search_seconds": round(exact_s, 1),
                "command": " ".join(["python -m load_tests.bench.scale_index"] + (argv or sys.argv[1:]))}
        report = json.loads(out_path.read_text()) if out_path.exists() else {"runs": []}
        report["runs"] = [r for r in report["runs"] if (r["n_ads"], r["factory"]) != (run["n_ads"], run["factory"])]
        report["runs"].append(run)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(report, indent=2) + "\n")
        sys.stdout.write(json.dumps(run) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
