"""Ad-encoding throughput of the ad tower in one process and on a local Ray with 1 and 2 actors, and Ray's own
cost per batch (reports/scale). The catalog is `index_scale.fake_ads` (QADSM-length German ad texts) in shards.

    python -m load_tests.bench.scale_encode --model shipped/twinbert-de --n 2000 --out reports/scale/encode.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common.files import write_json
from common.machine import describe
from load_tests.bench.index_scale import fake_ads


class NoopActor:
    """Ray Data actor that returns each batch unchanged: what a batch costs Ray (read, schedule, transfer)."""

    def __call__(self, batch):
        return batch



def run_saver(doc: dict, path: Path) -> Callable[[dict], None]:
    """`save(run)`: append a finished run to `doc["runs"]`, rewrite `path` whole, echo the run as a JSON line (a
    measurement cut off part-way keeps the runs it finished)."""

    def save(run: dict) -> None:
        doc["runs"].append(run)
        write_json(path, doc)
        sys.stdout.write(json.dumps(run) + "\n")
        sys.stdout.flush()

    return save

def write_shards(d: Path, n: int, shards: int) -> list[dict]:
    texts = fake_ads(n)
    rows = [{"ad_id": f"b{i:07d}", "title": " ".join(t.split()[:7]), "description": " ".join(t.split()[7:]),
             "bid": 1.0, "p_click": 0.02} for i, t in enumerate(texts)]
    step = -(-n // shards)
    d.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        with open(d / f"part-{i:03d}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows[i * step:(i + 1) * step])
    return rows


def single(model: Path, info: dict, rows: list[dict], threads: int, batch: int) -> dict:
    from offline.publish.encode_catalog import ad_tower
    from service.bundle import ad_text

    tower = ad_tower(model, info, threads=threads)
    texts = [ad_text(r["title"], r["description"], info["ad_separator"]) for r in rows]
    tower.encode_sorted(texts[:batch], batch)
    t = time.perf_counter()
    tower.encode_sorted(texts, batch)
    s = time.perf_counter() - t
    return {"engine": "single process", "threads": threads, "seconds": round(s, 2),
            "ads_per_s": round(len(texts) / s, 1)}


def on_ray(model: Path, info: dict, catalog: Path, actors: int, threads: int, batch: int, ray_batch: int) -> dict:
    from offline.publish.ray_encode import encode_catalog_ray

    work = Path(tempfile.mkdtemp(prefix="twinrank-encode-bench-"))
    stamps: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    try:
        enc = encode_catalog_ray(model, info, str(catalog), work, actors, threads, batch, ray_batch, progress=False,
                                 on_shard=lambda rec: stamps.append((time.perf_counter(), rec["n"])))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    # no steady-state rate from the shard stamps: with order preserved, finished shards reach the driver in bursts
    return {"engine": "ray local", "actors": actors, "threads_per_actor": threads, "ray_batch": ray_batch,
            "wall_seconds": round(wall, 2), "ads_per_s_wall": round(enc.n_ads / wall, 1),
            "first_shard_seconds": round(stamps[0][0] - t0, 2)}


def ray_overhead(catalog: Path, ray_batch: int) -> dict:
    """Seconds per batch of a pipeline whose actor does nothing (same read, same driver loop)."""
    import ray.data

    ds = ray.data.read_json(sorted(str(p) for p in catalog.glob("*.jsonl")), include_paths=True)
    ds = ds.map_batches(NoopActor, batch_size=ray_batch, batch_format="pyarrow",
                        compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)
    t = time.perf_counter()
    n_rows, first = 0, None
    for b in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        n_rows += b.num_rows
        first = first or time.perf_counter()
    wall = time.perf_counter() - t
    calls = -(-n_rows // ray_batch)
    return {"ray_batch": ray_batch, "rows": n_rows, "udf_calls": calls, "wall_seconds": round(wall, 2),
            "after_first_batch_seconds": round(time.perf_counter() - first, 3),
            "ms_per_batch_steady": round(1000 * (time.perf_counter() - first) / max(calls - 1, 1), 2)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--ray-batch", type=int, default=256)
    p.add_argument("--out", default="reports/scale/encode.json")
    a = p.parse_args(argv)
    from offline.export.model_dir import read_model_dir
    from offline.ray_cluster import start_ray

    model = Path(a.model)
    info = read_model_dir(model)
    d = Path(tempfile.mkdtemp(prefix="twinrank-encode-cat-"))
    rows = write_shards(d, a.n, a.shards)
    out: dict = {"machine": describe(), "load_avg_at_start": os.getloadavg(), "model": str(model),
                 "ad_tower": info["encoders"]["ad"], "ad_max_len": info["ad_max_len"], "n_ads": a.n,
                 "shards": a.shards, "encode_batch": a.batch,
                 "command": " ".join(["python -m load_tests.bench.scale_encode"] + (argv or sys.argv[1:])), "runs": []}

    save = run_saver(out, Path(a.out))

    for th in (1, 2):
        save(single(model, info, rows, th, a.batch))
    start_ray(None, num_cpus=3)  # logical: 2 one-thread actors and a reader on this 2-core machine
    for actors, th in ((1, 1), (2, 1), (1, 2)):
        save(on_ray(model, info, d, actors, th, a.batch, a.ray_batch))
    out["ray_overhead"] = [ray_overhead(d, rb) for rb in (64, 1024)]
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
