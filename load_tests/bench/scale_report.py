"""reports/scale/scale.json and scale.png from the measured index.json and encode.json: the measurements, the
memory per ad of each index kind, and the throughput model for N nodes (where the bottleneck moves).

    python -m load_tests.bench.scale_report --dir reports/scale
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from offline.publish.index_shards import index_bytes_per_ad

NODES = (1, 2, 4, 8, 16, 32, 64, 128)
ADS = 100_000_000
CORES_PER_NODE = 16  # a common cloud CPU node; one single-thread actor per core minus one for reading


def quiet_rate(bundle_scale: Path) -> float:
    """int8 ad tower, one thread, measured on this machine when it was quiet (reports/bundle/scale.json)."""
    runs = json.loads(bundle_scale.read_text())["encode"]["runs"]
    return next(r["ads_per_s"] for r in runs if r["variant"] == "int8" and r["threads"] == 1)


def throughput_model(encode: dict, index: dict, quiet: float, ray_batch: int = 1024) -> dict:
    """ads/s of each stage against nodes: a one-thread actor encodes at the quiet single-process rate plus Ray's
    measured cost per batch (the no-op pipeline); the driver ingests at the no-op pipeline's row rate."""
    noop = max((r for r in encode["ray_overhead"] if r["udf_calls"] > 1), key=lambda r: r["udf_calls"])
    per_batch_s = noop["ms_per_batch_steady"] / 1000  # measured with many small batches, applied per batch
    per_actor = 1.0 / (1.0 / quiet + per_batch_s / ray_batch)
    kept = per_actor / quiet
    driver_rows_s = ray_batch / per_batch_s  # the driver takes every batch in turn: one process
    big = max(index["runs"], key=lambda r: r["n_ads"])
    build_rate = big["n_ads"] / big["build_seconds"]
    actors = CORES_PER_NODE - 1
    rows = []
    for n in NODES:
        enc = n * actors * per_actor
        stage = {"encode": enc, "driver ingest (one process)": driver_rows_s,
                 "index build (one machine, as measured here)": build_rate}
        rows.append({"nodes": n, "encode_ads_per_s": round(enc), "bottleneck": min(stage, key=stage.get),
                     "end_to_end_ads_per_s": round(min(stage.values())),
                     "hours_for_100M_encode": round(ADS / min(enc, driver_rows_s) / 3600, 2),
                     "hours_for_100M_index_build": round(ADS / build_rate / 3600, 2)})
    return {"quiet_single_process_1thread_ads_per_s": quiet, "ray_batch": ray_batch,
            "ray_ms_per_batch": noop["ms_per_batch_steady"], "ray_share_of_single_process_rate": round(kept, 4),
            "per_actor_ads_per_s": round(per_actor, 1), "actors_per_node": actors,
            "driver_ingest_rows_per_s_model": round(driver_rows_s),
            "index_build_ads_per_s_at_largest": round(build_rate), "largest_build": big["factory"],
            "by_nodes": rows}


def memory_plan(dim: int = 128) -> dict:
    """Bytes per ad a serving replica holds: index + stored vectors (float32 or int8) + the ad table."""
    # the service's AdTable: ids as fixed-width bytes twice (as stored, and sorted for lookups) at ~16 bytes, the
    # sort order (int64), bid and p_click (float64)
    table = 2 * 16 + 3 * 8
    kinds = {f: index_bytes_per_ad(f, dim) for f in ("HNSW32,SQ8", "IVF16384,SQ8", "IVF16384,PQ32")}
    return {"dim": dim, "index_bytes_per_ad": kinds, "vectors_bytes_per_ad": {"float32": 4 * dim, "int8": dim},
            "table_bytes_per_ad_estimate": table,
            "per_replica_bytes_per_ad": {f: {v: b + vb + table for v, vb in (("float32", 4 * dim), ("int8", dim))}
                                         for f, b in kinds.items()}}


def plot(index: dict, encode: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    def family(factory: str) -> str:
        return re.sub(r"^(IVF|HNSW)\d+", r"\1", factory)

    for f in sorted({family(r["factory"]) for r in index["runs"]}):
        rs = sorted((r for r in index["runs"] if family(r["factory"]) == f), key=lambda r: r["n_ads"])
        a.plot([r["n_ads"] for r in rs], [r["peak_rss_mib"] for r in rs], "o-", label=f"{f} peak RSS (MiB)")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("ads (128-d)")
    a.set_title("index build from shards: peak RSS")
    a.legend(fontsize=8)
    labels, rates = [], []
    for r in encode["runs"]:
        if r["engine"] == "single process":
            labels.append(f"1 process\n{r['threads']} thr")
            rates.append(r["ads_per_s"])
        else:
            labels.append(f"Ray {r['actors']}×{r['threads_per_actor']}")
            rates.append(r["ads_per_s_wall"])
    b.bar(labels, rates)
    b.set_ylabel("ads/s (wall, Ray incl. start-up)")
    b.set_title("int8 ad tower, 2 heavily shared cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="reports/scale")
    a = p.parse_args(argv)
    d = Path(a.dir)
    index = json.loads((d / "index.json").read_text())
    encode = json.loads((d / "encode.json").read_text())
    quiet = quiet_rate(Path("reports/bundle/scale.json"))
    out = {"index_builds": index["runs"], "encode": encode, "throughput_model": throughput_model(encode, index, quiet),
           "memory_plan": memory_plan()}
    (d / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(index, encode, d / "scale.png")


if __name__ == "__main__":
    main()
