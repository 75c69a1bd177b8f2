"""Scale of the bundle build (reports/bundle): index build time and memory, recall@k against exact search and
query latency over synthetic vectors (`twinrank scale-bench index`), and ad-encoding throughput of an
exported ad tower (`twinrank scale-bench encode`). Each finished run is saved into the report file at once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from common.machine import describe
from load_tests.bench.retrieval import per_query_ms
from offline.publish.index_build import HNSW_EF_CONSTRUCTION, build_index, choose_factory, set_search_params
from offline.publish.recall import recall, synthetic_unit_vectors

SCALE_REPORT = Path("reports/bundle/scale.json")
_WORDS = ("laufschuhe damen herren jacke winter sommer flug berlin hamburg münchen wohnung mieten kaufen garten "
          "möbel holz fahrrad kinder günstig online shop jetzt bestellen versandkostenfrei angebot sale neu "
          "qualität marken reduziert preise vergleichen hotel reise urlaub auto versicherung kredit")
WORDS = _WORDS.split()


def _save(out: Path, section: str, results: dict) -> None:
    """Write `results` under `section` of the report file, keeping the other sections."""
    report = json.loads(out.read_text()) if out.exists() else {}
    report[section] = results
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def bench_index(n: int, nq: int, k: int, efs: list[int], factory: str | None, build_threads: int) -> dict:
    """Build time and memory, recall@k against exact search and one-thread latency for `n` synthetic ads."""
    import faiss

    xb, xq = synthetic_unit_vectors(n, nq)
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
        out["sweep"].append(p | {"recall_at_k": round(recall(got, truth, k), 4),
                                 "latency_ms_1thread": per_query_ms(index, xq[:300], k)})
    set_search_params(index, params)
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    out["exact_flat_latency_ms_1thread"] = per_query_ms(flat, xq[:100], k)
    return out


def index_scale(sizes: list[int], nq: int, k: int, efs: list[int], factory: str | None, build_threads: int,
                out: Path, command: str, emit: Callable[[dict], None]) -> dict:
    """`bench_index` for each catalog size, saved under "index" of `out` after each."""
    results: dict = {"machine": describe(), "command": command, "runs": []}
    for n in sizes:
        results["runs"].append(bench_index(n, nq, k, efs, factory, build_threads))
        _save(out, "index", results)
        emit(results["runs"][-1])
    return results


def fake_ads(n: int, seed: int = 0) -> list[str]:
    """Ad-like texts of QADSM length (title ≈ 7 words + description ≈ 9 words)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(12, 20))) for _ in range(n)]


def encode_scale(model: Path, n: int, batch_size: int, threads: list[int], out: Path, command: str,
                 emit: Callable[[dict], None]) -> dict:
    """Ads/s of the exported ad tower, fp32 and int8, at each ONNX Runtime thread count; saved under "encode"."""
    from offline.export.model_dir import read_model_dir
    from offline.publish.encode_catalog import ad_tower

    info = read_model_dir(model)
    texts = fake_ads(n)
    results: dict = {"machine": describe(), "command": command,
                     "model": {k: info.get(k) for k in ("base", "dim", "ad_max_len")} | {"config": info.get("config")},
                     "n_ads": n, "batch_size": batch_size, "runs": []}
    for th in threads:
        for variant in ("fp32", "int8"):
            tower = ad_tower(model, info, int8=variant == "int8", threads=th)
            tower.encode_sorted(texts[:batch_size], batch_size)  # warm-up
            t = time.perf_counter()
            tower.encode_sorted(texts, batch_size)
            s = time.perf_counter() - t
            results["runs"].append({"variant": variant, "threads": th, "seconds": round(s, 2),
                                    "ads_per_s": round(n / s, 1)})
            emit(results["runs"][-1])
            _save(out, "encode", results)
    return results
