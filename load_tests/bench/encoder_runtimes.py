"""Benchmark part `runtimes`: the shipped int8 query tower in ONNX Runtime (what the service runs) vs OpenVINO
(which reads the same ONNX file), at one thread.

- Encode time per query: the runtimes take turns on each query (the order alternating), over a few hundred
  distinct QADSM test queries, with tokenisation excluded (the same pre-tokenised arrays into both) and
  included (text in, vector out). Each runtime first sees every timed query once, so OpenVINO's per-shape
  compilation is not timed.
- ROC-AUC on the German test split with each runtime: queries through the runtime under test, ads through the
  same ONNX Runtime ad tower, scored by the cosine (the shipped calibration head is the cosine, and its affine
  calibration does not change the AUC). Batches differ from `twinrank evaluate`'s (queries in batches of 32 in
  first-seen order, ads in the cache's chunks), and dynamic int8 quantisation scales each batch's activations
  over its padded tensor, so the AUC can differ from evaluate's in the fourth decimal; both runtimes get the
  same batches.
- Adopt OpenVINO only if its AUC is within 0.001 of ONNX Runtime's and it is faster; the part only reports
  that, it switches nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

AUC_TOLERANCE = 0.001


class OpenVinoTower:
    """Texts → unit vectors with an ONNX tower compiled by OpenVINO for the CPU (same tokenizer as the service)."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, prefix: str, max_length: int, threads: int = 1):
        import openvino as ov

        from service.runtime.tokenize import TextEncoder

        self.text = TextEncoder.from_file(tokenizer_path, prefix, max_length)
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        result = self.request.infer({"input_ids": ids, "attention_mask": mask})
        return np.asarray(result[self.output], dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.run(*self.text(texts))


def runtime_towers(model_dir: Path, threads: int) -> tuple[dict[str, tuple[Callable, Callable]], Callable]:
    """({runtime: (encode texts, run pre-tokenised arrays)}, the tokenizer) for the model dir's query tower."""
    from load_tests.bench.student_vectors import tower

    info = json.loads((model_dir / "model.json").read_text())
    ort = tower(model_dir, "query", threads)
    name = info["encoders"]["query"].get("int8") or info["encoders"]["query"]["fp32"]
    ov = OpenVinoTower(model_dir / name, model_dir / "tokenizer.json", info["query_prefix"], info["query_max_len"],
                       threads)
    return {"onnxruntime": (ort.encode, ort.encoder), "openvino": (ov.encode, ov.run)}, ort.text


def _stats(wall: list[float], cpu: list[float]) -> dict:
    w, c = np.asarray(wall) * 1000, np.asarray(cpu) * 1000
    return {"p50_ms": round(float(np.median(w)), 3), "p90_ms": round(float(np.percentile(w, 90)), 3),
            "p99_ms": round(float(np.percentile(w, 99)), 3), "cpu_p50_ms": round(float(np.median(c)), 3),
            "queries": len(w)}


def encode_times(towers: dict[str, tuple[Callable, Callable]], tokenize: Callable, queries: list[str],
                 rounds: int = 2) -> dict:
    """Per-query wall and CPU time for each runtime, interleaved, tokenisation excluded and included;
    `tokenize` makes the arrays both runtimes get when tokenisation is excluded."""
    names = list(towers)
    arrays = [tokenize([q]) for q in queries]
    for _, run in towers.values():  # warm-up: every shape once
        for ids, mask in arrays:
            run(ids, mask)
    samples = {(n, m): ([], []) for n in names for m in ("excluded", "included")}
    for r in range(rounds):
        for i, (q, (ids, mask)) in enumerate(zip(queries, arrays, strict=True)):
            order = names if (i + r) % 2 == 0 else names[::-1]
            for n in order:
                encode, run = towers[n]
                calls = [("excluded", lambda: run(ids, mask)), ("included", lambda: encode([q]))]  # noqa: B023
                # the first call after the other runtime's wakes this one's threads: alternate which mode pays it
                for mode, call in calls if (i // 2 + r) % 2 == 0 else calls[::-1]:
                    c0, t0 = time.process_time(), time.perf_counter()
                    call()
                    samples[(n, mode)][0].append(time.perf_counter() - t0)
                    samples[(n, mode)][1].append(time.process_time() - c0)
    return {n: {f"tokenisation_{m}": _stats(*samples[(n, m)]) for m in ("excluded", "included")} for n in names}


def test_auc(towers: dict[str, tuple[Callable, Callable]], model_dir: Path, qadsm_dir: Path, work: Path,
             log: Callable[[str], None], limit: int | None = None) -> dict:
    """ROC-AUC of the cosine on the test split for each runtime's query vectors, with one set of ad vectors."""
    from sklearn.metrics import roc_auc_score

    from load_tests.bench.student_vectors import catalog_texts, encode_cached
    from offline.data.qadsm import pair_ad_texts, read_tsv

    pairs = read_tsv(qadsm_dir / "test.txt", limit)
    ads = pair_ad_texts(pairs)
    # the catalog's leading ads are the test split's: the libraries part's cache serves them
    texts, _ = catalog_texts(qadsm_dir, len(dict.fromkeys(ads)))
    if set(texts) != set(ads):  # a limited read: encode just these
        texts = list(dict.fromkeys(ads))
    ad_vecs, ad_info = encode_cached(model_dir, "ad", texts, work, threads=2, log=log)
    pos = {t: i for i, t in enumerate(texts)}
    a = ad_vecs[[pos[t] for t in ads]]
    uniq = list(dict.fromkeys(pairs.query))
    qpos = {q: i for i, q in enumerate(uniq)}
    out: dict = {"rows": len(pairs), "distinct_queries": len(uniq), "ad_vectors": ad_info, "runtimes": {}}
    vecs = {}
    for name, (encode, _) in towers.items():
        t0 = time.perf_counter()
        v = np.concatenate([encode(uniq[i:i + 32]) for i in range(0, len(uniq), 32)])
        vecs[name] = v
        q = v[[qpos[x] for x in pairs.query]]
        out["runtimes"][name] = {"roc_auc": round(float(roc_auc_score(pairs.label, (q * a).sum(axis=1))), 5),
                                 "encode_all_s": round(time.perf_counter() - t0, 1)}
    ort, ov = vecs["onnxruntime"], vecs["openvino"]
    cos = (ort * ov).sum(axis=1) / np.linalg.norm(ort, axis=1) / np.linalg.norm(ov, axis=1)
    out["query_vectors_openvino_vs_onnxruntime"] = {"mean_cos": round(float(cos.mean()), 6),
                                                    "min_cos": round(float(cos.min()), 6),
                                                    "max_abs_diff": round(float(np.abs(ort - ov).max()), 6)}
    return out


def decide(times: dict, auc: dict | None) -> dict:
    """Adopt OpenVINO only if its AUC is within AUC_TOLERANCE of ONNX Runtime's and its p50 (tokenisation
    included) is lower."""
    key = "tokenisation_included"
    ratio = times["openvino"][key]["p50_ms"] / times["onnxruntime"][key]["p50_ms"]
    faster = ratio < 1
    out: dict = {"openvino_over_onnxruntime_p50_included": round(ratio, 3),
                 "openvino_over_onnxruntime_p50_excluded": round(
                     times["openvino"]["tokenisation_excluded"]["p50_ms"]
                     / times["onnxruntime"]["tokenisation_excluded"]["p50_ms"], 3),
                 "openvino_over_onnxruntime_cpu_p50_included": round(
                     times["openvino"][key]["cpu_p50_ms"] / times["onnxruntime"][key]["cpu_p50_ms"], 3),
                 "openvino_faster": faster}
    if auc is None:
        out |= {"auc_equal_within_0.001": None, "adopt_openvino": None, "why": "no AUC (needs the QADSM files)"}
        return out
    diff = auc["runtimes"]["openvino"]["roc_auc"] - auc["runtimes"]["onnxruntime"]["roc_auc"]
    equal = abs(diff) <= AUC_TOLERANCE
    out |= {"auc_openvino_minus_onnxruntime": round(diff, 5), "auc_equal_within_0.001": equal,
            "adopt_openvino": equal and faster,
            "why": ("AUC equal within 0.001 and faster: adoption is the maintainers' call (the service is not "
                    "switched)" if equal and faster else
                    "not adopted: " + ("slower" if not faster else "") + (" and " if not (faster or equal) else "")
                    + ("" if equal else "AUC differs by more than 0.001"))}
    return out


def encoder_runtimes(work: Path, model_dir: Path, qadsm_dir: Path | None, queries: list[str], threads: int = 1,
                     n_timed: int = 300, rounds: int = 2, log: Callable[[str], None] = lambda m: None,
                     auc_limit: int | None = None) -> dict:
    """The part's section; OpenVINO missing → skipped."""
    import importlib.util

    if importlib.util.find_spec("openvino") is None:
        return {"skipped": "skipped: openvino not installed (pip install 'twinrank[bench]')"}
    import onnxruntime
    import openvino

    towers, tokenize = runtime_towers(model_dir, threads)
    if qadsm_dir is not None:
        from load_tests.bench.student_vectors import test_queries

        queries = test_queries(qadsm_dir)
    timed = queries[:n_timed]
    log(f"encoder runtimes: timing {len(timed)} queries x {rounds} rounds")
    times = encode_times(towers, tokenize, timed, rounds)
    auc = test_auc(towers, model_dir, qadsm_dir, work, log, auc_limit) if qadsm_dir is not None else None
    shipped = _shipped_auc(model_dir)
    return {"model": str(model_dir), "threads": threads, "rounds": rounds,
            "versions": {"onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__},
            "openvino_config": {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"},
            "timed_queries": "distinct QADSM test queries" if qadsm_dir else "bench queries",
            "encode": times, "auc": auc, "shipped_evaluate_roc_auc": shipped, "decision": decide(times, auc),
            "note": ("Measured on a shared 2-core VM under heavy load (load average ~10): absolute times are "
                     "inflated and noisy; the runtimes alternate query by query, so compare ratios.")}


def _shipped_auc(model_dir: Path) -> dict | None:
    """The test ROC-AUC `twinrank evaluate --record` wrote into the model dir's model.json, if any."""
    rec = json.loads((model_dir / "model.json").read_text()).get("metrics", {}).get("qadsm_test") or {}
    if rec.get("roc_auc") is None:
        return None
    return {"roc_auc": round(rec["roc_auc"], 5), "head": rec.get("head"), "precision": rec.get("precision"),
            "from": "model.json metrics.qadsm_test"}
