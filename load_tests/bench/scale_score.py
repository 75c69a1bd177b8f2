"""Cross-encoder teacher scoring throughput (the expensive part of `twinrank distill`'s score stage) in one
process and on a local Ray with 1 and 2 one-thread actors (reports/scale). The model is the cross-encoder the
run would train, untrained here (the same 12 layers and max length cost the same); the pairs are QADSM train
pairs.

    python -m load_tests.bench.scale_score --data QADSM_DE_DIR --n 2000 --out reports/scale/score.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common.machine import describe
from load_tests.bench.scale_encode import run_saver


def local(model, queries: list[str], ads: list[str], threads: int) -> tuple[dict, np.ndarray]:
    import torch

    from offline.distill.cross_teacher import cross_logits

    torch.set_num_threads(threads)
    cross_logits(model, queries[:8], ads[:8], progress=False)  # first-call costs out of the timing
    t = time.perf_counter()
    logits = cross_logits(model, queries, ads, progress=False)
    s = time.perf_counter() - t
    return {"engine": "single process", "threads": threads, "seconds": round(s, 2),
            "pairs_per_s": round(len(queries) / s, 2)}, logits


def on_ray(model_dir: Path, queries: list[str], ads: list[str], actors: int, batches_per_shard: int
           ) -> tuple[dict, np.ndarray]:
    from offline.distill.ray_score import RayScoring, cross_logits_ray

    work = Path(tempfile.mkdtemp(prefix="twinrank-score-bench-"))
    stamps: list[float] = []
    engine = RayScoring(actors=actors, threads_per_actor=1, batches_per_shard=batches_per_shard, progress=False,
                        on_shard=lambda rec: stamps.append(time.perf_counter()))
    t0 = time.perf_counter()
    try:
        logits, shards = cross_logits_ray(model_dir, {"pairs": (queries, ads)}, "fp32", work, engine)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    per_shard = 64 * batches_per_shard
    # shards reach the driver as they finish (order not preserved): the rate after the first ones is the steady
    # one, without the actors' start (torch import, model load) and Ray Data's job start
    steady_n = len(queries) - per_shard * actors
    steady = (stamps[-1] - stamps[actors - 1]) if len(stamps) > actors else None
    return {"engine": "ray local", "actors": actors, "threads_per_actor": 1, "pairs_per_shard": per_shard,
            "shards": shards["shards_computed"], "wall_seconds": round(wall, 2),
            "pairs_per_s_wall": round(len(queries) / wall, 2),
            "first_shard_seconds": round(stamps[0] - t0, 2),
            "pairs_per_s_steady": round(steady_n / steady, 2) if steady else None}, logits["pairs"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="QADSM directory (train.txt)")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--base", default="multilingual-e5-small")
    p.add_argument("--max-len", type=int, default=96)
    p.add_argument("--batches-per-shard", type=int, default=4)
    p.add_argument("--out", default="reports/scale/score.json")
    a = p.parse_args(argv)
    from models.cross_encoder import CrossEncoder
    from offline.data.qadsm import pair_ad_texts, read_split
    from offline.ray_cluster import start_ray

    pairs = read_split(a.data, "train", a.n)
    queries, ads = list(pairs.query), pair_ad_texts(pairs)
    model = CrossEncoder.from_base(a.base, a.max_len).eval()
    model_dir = Path(tempfile.mkdtemp(prefix="twinrank-cross-bench-"))
    model.save(model_dir)
    out: dict = {"machine": describe(), "load_avg_at_start": os.getloadavg(), "model": f"CrossEncoder.from_base("
                 f"{a.base!r}) untrained, {model.encoder.config.num_hidden_layers} layers, max_len {a.max_len}",
                 "n_pairs": len(queries), "precision": "fp32", "batch": 64,
                 "command": " ".join(["python -m load_tests.bench.scale_score"] + (argv or sys.argv[1:])), "runs": []}

    save = run_saver(out, Path(a.out))

    run, reference = local(model, queries, ads, threads=1)
    save(run)
    start_ray(None, num_cpus=2)
    for actors in (1, 2):
        run, logits = on_ray(model_dir, queries, ads, actors, a.batches_per_shard)
        run["max_abs_diff_vs_single_process"] = float(np.max(np.abs(logits - reference)))
        save(run)
    out["load_avg_at_end"] = os.getloadavg()
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    shutil.rmtree(model_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
