"""Benchmark part `peers`: twinrank side by side with the stack a user would deploy instead, on one machine,
one catalog, one query stream and one open-loop generator (`run_loadtest`).

Stacks (`STACKS`):
1. `peer_st_faiss_fastapi`: sentence-transformers (PyTorch) multilingual-e5-small, FAISS `IndexFlatIP` over
   its normalised "passage: " vectors, a plain FastAPI route with default JSON (`peer_app`);
2. `twinrank_fastapi_route`: `twinrank serve` with `TWINRANK_FAST_RANK_PATH=false` (the FastAPI /rank route);
3. `twinrank_shipped`: `twinrank serve` as shipped.

The catalog is the project's sample catalog (`offline.data.sample_catalog`, 3,000 ads by default): twinrank serves
a bundle of it built with the given student (the shipped one by default), the peer encodes the same JSONL at
startup. For each stack: a rate sweep (stopping at the first failure) with the server's CPU per request at each
rate (process CPU seconds over requests served, as the e2e part counts them), the highest rate with p99 ≤ the
SLO, and the p99 and CPU per request at the common rate (the lowest of the stacks' highest passing rates; the
sweep's lowest rate when a stack passes none). Ranking quality: ROC-AUC on the QADSM German test split of each
stack's score (peer: the cosine of its e5 query and passage vectors, zero-shot; twinrank: the student's served
head as `twinrank evaluate` records it in model.json, or computed by `offline.export.quality` when there is no
record for these rows).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.net import free_port
from load_tests.bench.server import Server, ServerProcess, peer_server
from load_tests.tools.server_metrics import served_requests

STACKS = {
    "peer_st_faiss_fastapi": "sentence-transformers on PyTorch + FAISS IndexFlatIP + FastAPI, default JSON",
    "twinrank_fastapi_route": "twinrank serve, TWINRANK_FAST_RANK_PATH=false (the FastAPI /rank route)",
    "twinrank_shipped": "twinrank serve as shipped (plain-ASGI /rank fast path)",
}
PEER = "peer_st_faiss_fastapi"
TWINRANK_ENV = {"TWINRANK_QUERY_CACHE_SIZE": "0", "TWINRANK_RELOAD_ENABLED": "false"}
STACK_ENV = {"twinrank_fastapi_route": {"TWINRANK_FAST_RANK_PATH": "false"}, "twinrank_shipped": {}}


def serving_threads() -> int:
    """The service's default ONNX Runtime intra-op and FAISS thread count: the peer gets the same."""
    from service.settings import Settings

    fields = Settings.model_fields
    return max(fields["ort_intra_op_threads"].default, fields["faiss_threads"].default)


def peer_catalog(work: Path, n_ads: int) -> Path:
    from offline.data.sample_catalog import write_sample_catalog

    path = work / "peers" / f"sample-catalog-{n_ads}.jsonl"
    return path if path.exists() else write_sample_catalog(path, n_ads)


def twinrank_bundle(work: Path, model_dir: Path, catalog: Path, n_ads: int, log: Callable[[str], None]) -> Path:
    """A bundle root of `catalog` encoded by `model_dir`'s ad tower (built once per student and size)."""
    from load_tests.bench.student_vectors import model_key
    from offline.publish.index_build import build_bundle
    from service.bundle import read_current

    root = work / "peers" / f"bundles-{n_ads}-{model_key(model_dir, 'ad')}"
    if read_current(root) is None:
        log(f"peers: building the twinrank bundle of {n_ads} ads under {root}")
        build_bundle(model_dir, catalog, root, threads=2, progress=False)
    return root


def sweep_server(server: ServerProcess, queries: str | None, rates: tuple[float, ...], duration: float,
                 slo_ms: float, first_warmup: float = 3.0) -> dict:
    """Open-loop /rank runs at ascending `rates` until one fails the SLO, each with the server's CPU per request."""
    from load_tests.generator.sweep import Slo, sweep
    from load_tests.tools.loadtest import run_loadtest
    from load_tests.tools.spec import LoadTestSpec

    runs: list[dict] = []

    def tracked(rate: float) -> dict:
        warm = min(first_warmup, duration) if not runs else 1.0
        c0 = server.cpu_seconds()
        doc = run_loadtest(LoadTestSpec(url=server.url, rates=[rate], duration=duration, warmup=warm, queries=queries,
                                        top_k=10, ready_timeout=600.0, progress=False), None)
        r = doc["runs"][0]
        r["server_cpu_ms_per_request"] = round((server.cpu_seconds() - c0) * 1000 / served_requests(r, rate, warm),
                                               3)
        runs.append(r)
        return r

    return sweep(rates, tracked, Slo(p99_ms=slo_ms))


def _start(name: str, work: Path, catalog: Path, peer_model: Path, bundles: Path, threads: int) -> ServerProcess:
    log_path = work / "peers" / f"{name}.log"
    if name == PEER:
        return peer_server(catalog, peer_model, free_port(), log_path, threads=threads)
    return Server(bundles, free_port(), log_path, {**TWINRANK_ENV, **STACK_ENV[name]})


def measure_stack(name: str, work: Path, catalog: Path, peer_model: Path, bundles: Path, queries: str | None,
                  rates: tuple[float, ...], duration: float, slo_ms: float, threads: int) -> dict:
    from load_tests.generator.http1 import Target
    from load_tests.tools.loadtest import wait_ready

    server = _start(name, work, catalog, peer_model, bundles, threads)
    out: dict = {"stack": STACKS[name]}
    if name != PEER:
        out["server_env"] = {**TWINRANK_ENV, **STACK_ENV[name]}
    try:
        t0 = time.perf_counter()
        wait_ready(Target.parse(server.url), "/readyz", 900.0)
        out["server_ready_s"] = round(time.perf_counter() - t0, 1)
        out["sweep"] = sweep_server(server, queries, rates, duration, slo_ms)
    finally:
        server.stop()
        out["server_log_tail"] = server.log_path.read_text(errors="replace")[-1500:]
    out["max_rps_meeting_slo"] = out["sweep"]["max_rps_meeting_slo"]
    return out


def at_rate(stack: dict, rate: float) -> dict | None:
    """The stack's sweep run at `rate` (None when its sweep stopped before it)."""
    return next((r for r in stack["sweep"]["runs"] if r["offered_rps"] == rate), None)


def compare(stacks: dict[str, dict], rates: tuple[float, ...]) -> dict:
    """The common rate, each stack's p99 and CPU per request there, and twinrank's ratios to the peer."""
    best = [s["max_rps_meeting_slo"] for s in stacks.values()]
    common = min(best) if all(b is not None for b in best) else min(rates)
    table = {}
    for name, s in stacks.items():
        r = at_rate(s, common)
        table[name] = {"max_rps_meeting_slo": s["max_rps_meeting_slo"],
                       "p99_ms_at_common_rate": r["latency_ms"]["p99_ms"] if r else None,
                       "error_rate_at_common_rate": r["error_rate"] if r else None,
                       "server_cpu_ms_per_request_at_common_rate": r["server_cpu_ms_per_request"] if r else None}
    out: dict = {"common_rate_rps": common,
                 "common_rate_rule": ("the lowest of the stacks' highest rates meeting the SLO" if all(
                     b is not None for b in best) else "the sweep's lowest rate: a stack met the SLO at no rate"),
                 "stacks": table}
    peer = table.get(PEER)
    if peer:
        ratios = {}
        for name in stacks.keys() - {PEER}:
            mine = table[name]
            cpu = (peer["server_cpu_ms_per_request_at_common_rate"] / mine["server_cpu_ms_per_request_at_common_rate"]
                   if peer["server_cpu_ms_per_request_at_common_rate"] and
                   mine["server_cpu_ms_per_request_at_common_rate"] else None)
            rate = (mine["max_rps_meeting_slo"] / peer["max_rps_meeting_slo"]
                    if mine["max_rps_meeting_slo"] and peer["max_rps_meeting_slo"] else None)
            ratios[name] = {"peer_cpu_over_this_cpu": round(cpu, 2) if cpu else None,
                            "this_rate_at_slo_over_peer_rate": round(rate, 2) if rate else None,
                            "peer_meets_slo_at_no_rate": peer["max_rps_meeting_slo"] is None}
        out["ratios_vs_peer"] = dict(sorted(ratios.items()))
    return out


# ---- ranking quality on the test split ------------------------------------------------------------------
def _e5_key(model_dir: Path, texts: list[str]) -> str:
    h = hashlib.sha256(str(model_dir.resolve()).encode())
    for f in sorted(model_dir.glob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update("\n".join(texts).encode())
    return h.hexdigest()[:16]


def st_vectors(model_dir: Path, texts: list[str], work: Path, threads: int = 2) -> np.ndarray:
    """Normalised sentence-transformers vectors of `texts` (cached under `work` by model files and texts)."""
    path = work / "peers" / "st_vectors" / f"{_e5_key(model_dir, texts)}.npy"
    if path.exists():
        return np.load(path)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(model_dir), device="cpu")
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def peer_auc(peer_model: Path, test_path: Path, work: Path, limit: int | None) -> dict:
    """Zero-shot ROC-AUC of the peer's score (cosine of "query: " and "passage: " vectors) on the test pairs."""
    from sklearn.metrics import roc_auc_score

    from offline.data.qadsm import pair_ad_texts, read_tsv

    pairs = read_tsv(test_path, limit)
    t0 = time.perf_counter()
    uq, ua = list(dict.fromkeys(pairs.query)), list(dict.fromkeys(pair_ad_texts(pairs)))
    qv = st_vectors(peer_model, [f"query: {q}" for q in uq], work)
    av = st_vectors(peer_model, [f"passage: {a}" for a in ua], work)
    qi, ai = {q: i for i, q in enumerate(uq)}, {a: i for i, a in enumerate(ua)}
    cos = (qv[[qi[q] for q in pairs.query]] * av[[ai[a] for a in pair_ad_texts(pairs)]]).sum(axis=1)
    return {"roc_auc": round(float(roc_auc_score(pairs.label, cos)), 5), "rows": len(pairs),
            "score": "the cosine of its query and passage vectors, zero-shot",
            "seconds": round(time.perf_counter() - t0, 1)}


def twinrank_auc(model_dir: Path, test_path: Path, limit: int | None) -> dict:
    """The student's test ROC-AUC with its served head and precision: model.json's `twinrank evaluate` record
    when it covers these rows, else computed now (`offline.export.quality.evaluate_model_dir`)."""
    from offline.data.qadsm import read_tsv

    info = json.loads((model_dir / "model.json").read_text())
    rows = len(read_tsv(test_path, limit))
    rec = info.get("metrics", {}).get("qadsm_test") or {}
    if limit is None and rec.get("roc_auc") is not None and rec.get("rows") == rows:
        return {"roc_auc": round(rec["roc_auc"], 5), "rows": rows, "head": rec.get("head"),
                "precision": rec.get("precision"), "from": "model.json metrics.qadsm_test (twinrank evaluate)"}
    from offline.export.quality import evaluate_model_dir

    t0 = time.perf_counter()
    rep = evaluate_model_dir(model_dir, test_path, limit, threads=2)
    precision = "int8" if "auc_int8" in rep else "fp32"  # the service serves int8 towers when exported
    return {"roc_auc": round(rep[f"auc_{precision}"][rep["head"]], 5), "rows": rows, "head": rep["head"],
            "precision": precision, "from": "offline.export.quality.evaluate_model_dir, computed now",
            "seconds": round(time.perf_counter() - t0, 1)}


def quality(model_dir: Path, peer_model: Path, qadsm_dir: Path | None, work: Path, limit: int | None,
            log: Callable[[str], None]) -> dict:
    test = qadsm_dir / "test.txt" if qadsm_dir else None
    if test is None or not test.is_file():
        return {"skipped": "skipped: no QADSM test split (pass --qadsm-dir or a --queries file beside "
                           "train/dev/test.txt)"}
    log(f"peers: test ROC-AUC of the peer's zero-shot e5 cosine ({test.name})")
    peer = peer_auc(peer_model, test, work, limit)
    log("peers: test ROC-AUC of the twinrank student")
    tw = twinrank_auc(model_dir, test, limit)
    return {"split": "QADSM de test (read by path at run time)", "limit": limit,
            "stacks": {PEER: peer, "twinrank_fastapi_route": tw, "twinrank_shipped": tw},
            "twinrank_minus_peer": round(tw["roc_auc"] - peer["roc_auc"], 5)}


def peers(work: Path, model_dir: Path, peer_model: str, queries: str | None, qadsm_dir: Path | None,
          n_ads: int = 3000, rates: tuple[float, ...] = (25, 50, 100, 200, 300, 400, 600), duration: float = 15.0,
          slo_ms: float = 20.0, auc_limit: int | None = None, stacks: tuple[str, ...] = tuple(STACKS),
          log: Callable[[str], None] = lambda m: None) -> dict:
    """The part's section."""
    from models.pretrained import resolve_base

    peer_dir = resolve_base(peer_model)
    threads = serving_threads()
    catalog = peer_catalog(work, n_ads)
    bundles = twinrank_bundle(work, model_dir, catalog, n_ads, log)
    from service.bundle import current_version_dir, load_manifest

    manifest = load_manifest(current_version_dir(bundles))
    measured = {}
    for name in stacks:
        log(f"peers: {name}: sweep {list(rates)} req/s, {duration:g} s each")
        measured[name] = measure_stack(name, work, catalog, peer_dir, bundles, queries, tuple(sorted(rates)),
                                       duration, slo_ms, threads)
        log(f"peers: {name}: highest rate with p99 <= {slo_ms:g} ms: {measured[name]['max_rps_meeting_slo']}")
    import faiss
    import sentence_transformers
    import torch

    return {"catalog": {"source": "project sample catalog (offline.data.sample_catalog)", "n_ads": n_ads,
                        "twinrank_index": manifest.index.factory, "peer_index": "FAISS IndexFlatIP (exact)"},
            "student": str(model_dir), "peer_model": peer_model,
            "queries": "QADSM queries read by path at run time" if queries else "project-made built-in queries",
            "threads": {"twinrank": f"service defaults: ONNX Runtime intra-op {threads}, FAISS {threads}",
                        "peer": f"torch.set_num_threads({threads}), interop 1, OMP/MKL {threads}, FAISS {threads}; "
                                "one uvicorn worker, the sync route on FastAPI's thread pool"},
            "versions": {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                         "faiss": faiss.__version__},
            "sweep_rates": sorted(rates), "sweep_duration_s": duration, "slo_p99_ms": slo_ms,
            "stacks": measured, "comparison": compare(measured, tuple(rates)),
            "quality": quality(model_dir, peer_dir, qadsm_dir, work, auc_limit, log)}
