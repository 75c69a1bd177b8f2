"""Scale measurements for the bundle issue: encode throughput, index build time/memory, recall@100, latency.

    python -m offline.scale_bench index --sizes 100000,1000000      # → reports/bundle/scale.json "index"
    python -m offline.scale_bench encode --model MODEL_DIR            # → reports/bundle/scale.json "encode"

Recall is measured on FAISS's `SyntheticDataset` (intrinsic dimension ~10, L2-normalised so inner product
is cosine, as with our embeddings); uniformly random vectors are a degenerate worst case for any ANN index.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import typer

from offline.publish.index_build import HNSW_EF_CONSTRUCTION, build_index, choose_factory, set_search_params

app = typer.Typer(no_args_is_help=True, add_completion=False)
_WORDS = ("laufschuhe damen herren jacke winter sommer flug berlin hamburg münchen wohnung mieten kaufen garten "
         "möbel holz fahrrad kinder günstig online shop jetzt bestellen versandkostenfrei angebot sale neu "
         "qualität marken reduziert preise vergleichen hotel reise urlaub auto versicherung kredit")
WORDS = _WORDS.split()


def machine() -> dict:
    import faiss
    import onnxruntime

    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem, 1), "python": platform.python_version(),
            "faiss": faiss.__version__, "onnxruntime": onnxruntime.__version__,
            "note": "CPU shared with other jobs (a training run) during measurement"}


def _save(out: Path, section: str, results: dict) -> None:
    """Write `results` under `section` of the report file, keeping the other sections."""
    report = json.loads(out.read_text()) if out.exists() else {}
    report[section] = results
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def synthetic(n: int, nq: int, d: int = 128, seed: int = 1338) -> tuple[np.ndarray, np.ndarray]:
    import faiss
    from faiss.contrib.datasets import SyntheticDataset

    ds = SyntheticDataset(d, 0, n, nq, metric="IP", seed=seed)
    xb, xq = ds.get_database(), ds.get_queries()
    faiss.normalize_L2(xb)
    faiss.normalize_L2(xq)
    return xb, xq


def _latency_ms(index, xq: np.ndarray, k: int) -> dict:
    times = []
    for q in xq:
        t = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1e3)
    t = np.asarray(times)
    return {"p50": round(float(np.percentile(t, 50)), 3), "p99": round(float(np.percentile(t, 99)), 3),
            "mean": round(float(t.mean()), 3)}


def bench_index(n: int, nq: int, k: int, efs: list[int], factory: str | None, build_threads: int) -> dict:
    import faiss

    xb, xq = synthetic(n, nq)
    faiss.omp_set_num_threads(build_threads)
    t = time.perf_counter()
    _, truth = faiss.knn(xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT)
    gt_s = time.perf_counter() - t
    factory, params = choose_factory(n, factory)
    rss0 = _rss_mib()
    t = time.perf_counter()
    index, device = build_index(xb, factory, params, device="auto")
    build_s = time.perf_counter() - t
    out = {"n_ads": n, "dim": xb.shape[1], "n_queries": nq, "k": k, "factory": factory, "default_params": params,
           "build_seconds": round(build_s, 1), "build_threads": build_threads, "build_device": device,
           "efConstruction": HNSW_EF_CONSTRUCTION if "HNSW" in factory else None,
           "index_bytes": len(faiss.serialize_index(index)), "rss_growth_mib": round(_rss_mib() - rss0, 1),
           "vectors_bytes": int(xb.nbytes), "exact_search_seconds_all_queries": round(gt_s, 2), "sweep": []}
    faiss.omp_set_num_threads(1)
    sweep = [{"efSearch": e} for e in efs] if "HNSW" in factory else [{"nprobe": p} for p in (8, 16, 32, 64)]
    for p in sweep if sweep else [{}]:
        set_search_params(index, p)
        _, got = index.search(xq, k)
        rec = float(np.mean([len(set(g) & set(tr)) / k for g, tr in zip(got, truth, strict=True)]))
        out["sweep"].append(p | {"recall_at_k": round(rec, 4), "latency_ms_1thread": _latency_ms(index, xq[:300], k)})
    set_search_params(index, params)
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    out["exact_flat_latency_ms_1thread"] = _latency_ms(flat, xq[:100], k)
    return out


@app.command("index")
def index_cmd(sizes: str = "100000,1000000", nq: int = 1000, k: int = 100, efs: str = "64,100,128,192,256",
              factory: str | None = None, build_threads: int = 2, out: Path = Path("reports/bundle/scale.json")):
    """Build time/memory, recall@k vs exact and one-thread query latency on synthetic unit vectors."""
    results = {"machine": machine(), "command": f"python -m offline.scale_bench index --sizes {sizes}", "runs": []}
    for n in (int(s) for s in sizes.split(",")):
        results["runs"].append(bench_index(n, nq, k, [int(e) for e in efs.split(",")], factory, build_threads))
        _save(out, "index", results)
        typer.echo(json.dumps(results["runs"][-1]))


def fake_ads(n: int, seed: int = 0) -> list[str]:
    """Ad-like texts of QADSM length (title ≈ 7 words + description ≈ 9 words)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(12, 20))) for _ in range(n)]


@app.command("encode")
def encode_cmd(model: Path = typer.Option(...), n: int = 512, batch_size: int = 64, threads: str = "1,2",
               out: Path = Path("reports/bundle/scale.json")):
    """Ads/s of the exported ad tower, fp32 and int8, at the given ONNX Runtime thread counts."""
    from offline.export.model_dir import read_model_dir
    from offline.publish.encode_catalog import ad_tower

    info = read_model_dir(model)
    texts = fake_ads(n)
    results = {"machine": machine(), "command": f"python -m offline.scale_bench encode --model MODEL_DIR --n {n}",
               "model": {k: info.get(k) for k in ("base", "dim", "ad_max_len")} | {"config": info.get("config")},
               "n_ads": n, "batch_size": batch_size, "runs": []}
    for th in (int(t) for t in threads.split(",")):
        for variant in ("fp32", "int8"):
            tower = ad_tower(model, info, int8=variant == "int8", threads=th)
            tower.encode_sorted(texts[:batch_size], batch_size)  # warm-up
            t = time.perf_counter()
            tower.encode_sorted(texts, batch_size)
            s = time.perf_counter() - t
            results["runs"].append({"variant": variant, "threads": th, "seconds": round(s, 2),
                                    "ads_per_s": round(n / s, 1)})
            typer.echo(json.dumps(results["runs"][-1]))
            _save(out, "encode", results)


if __name__ == "__main__":
    app()
