"""Benchmarks 1 and 2: teacher cross-encoder vs TwinBERT student on 100 ads, and query encoding
PyTorch vs ONNX fp32 vs ONNX int8. Both sides run in the same process, on the same thread count.

The student is a TwinBERT built from the packaged multilingual-e5-small with the shipped recipe's shape
(4-layer query tower, 12-layer ad tower, 128-d projection) and exported by `offline.export.model_dir`; the teacher
is a 12-layer e5-small cross-encoder with a linear head (`models.cross_encoder`). Weights need not be
trained for timing: cost depends on shapes, not values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

STUDENT_SHAPE = {"query_layers": 4, "ad_layers": 12, "proj_dim": 128}
TEACHER_MAX_LEN = 96


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Wall-clock and CPU ms of `fn()` over `repeats` calls after `warmup` (p50, p90, mean, min).

    On a machine shared with a higher-priority training run, wall time includes waiting for a core; the
    process CPU time (all threads) of the same calls is the cost itself, so ratios use both.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    a, c = np.asarray(wall), np.asarray(cpu)
    return {"p50_ms": round(float(np.median(a)), 4), "p90_ms": round(float(np.percentile(a, 90)), 4),
            "mean_ms": round(float(a.mean()), 4), "min_ms": round(float(a.min()), 4),
            "cpu_p50_ms": round(float(np.median(c)), 4), "cpu_mean_ms": round(float(c.mean()), 4),
            "repeats": repeats}


def build_student(work: Path, base: str = "multilingual-e5-small") -> Path:
    """Export (once) an untrained student of the shipped shape into `work/student`; returns that dir."""
    out = work / "student"
    if (out / "model.json").exists():
        return out
    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig
    from offline.export.model_dir import export_model

    torch.manual_seed(0)
    model = TwinBERT.from_base(TwinBERTConfig(base=base, **STUDENT_SHAPE))
    return export_model(model, out, int8=True, metrics={"note": "untrained, for timing only"}, force=True)


def build_teacher(work: Path, base: str = "multilingual-e5-small") -> tuple[Path, Path, str]:
    """Export (once) a 12-layer cross-encoder to `work/teacher/teacher.onnx`: (onnx, tokenizer.json, query prefix)."""
    out = work / "teacher"
    onnx_path = out / "teacher.onnx"
    from models.pretrained import resolve_base, text_prefixes

    base_dir = resolve_base(base)
    prefix = text_prefixes(base_dir)[0]
    if onnx_path.exists():
        return onnx_path, base_dir / "tokenizer.json", prefix
    import warnings

    import torch

    from models.cross_encoder import CrossEncoder

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = CrossEncoder.from_base(base, max_len=TEACHER_MAX_LEN).eval()
    feats = model.tokenize(["laufschuhe damen", "zelt"], ["Laufschuhe kaufen Grosse Auswahl", "Zelte guenstig"])
    tmp = out / ".teacher.onnx.tmp"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (feats["input_ids"], feats["attention_mask"]), str(tmp), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["logit"], opset_version=17,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "logit": {0: "batch"}})
    tmp.replace(onnx_path)
    return onnx_path, base_dir / "tokenizer.json", prefix


def teacher_vs_student(work: Path, query_pool: list[str], ad_texts: list[str], threads: int = 1,
                       repeats: int = 10, n_ads: int = 100) -> dict:
    """Score `n_ads` ads for one query: teacher = n_ads cross-encoder passes in one ONNX batch (with
    tokenisation); student = tokenise + encode the query, gather stored ad vectors, residual head,
    calibration — what the service does for `ads` given by id."""
    import json

    from service.runtime.onnx_model import make_session
    from service.runtime.tokenize import load_tokenizer
    from service.runtime.towers import OnnxTower

    teacher_path, tok_path, q_prefix = build_teacher(work)
    student = build_student(work)
    info = json.loads((student / "model.json").read_text())

    tok = load_tokenizer(tok_path, TEACHER_MAX_LEN)
    teacher = make_session(teacher_path, threads)
    rng = np.random.default_rng(0)
    ads = [ad_texts[i] for i in rng.choice(len(ad_texts), n_ads, replace=len(ad_texts) < n_ads)]
    queries = iter(query_pool * 1000)

    def run_teacher() -> None:
        q = next(queries)
        enc = tok.encode_batch([(q_prefix + q, a) for a in ads])
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        teacher.run(["logit"], {"input_ids": ids, "attention_mask": mask})

    q_tower = OnnxTower(student / info["encoders"]["query"]["fp32"], student / "tokenizer.json",
                        info["query_prefix"], info["query_max_len"], threads)
    res = make_session(student / info["heads"]["res"]["file"], threads)
    cal = info["calibration"]
    stored = rng.standard_normal((20_000, info["dim"])).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    rows = rng.choice(len(stored), n_ads, replace=False)

    def run_student() -> None:
        q = q_tower.encode([next(queries)])
        a = stored[rows]
        logit = res.run(["logit"], {"q": np.repeat(q, len(a), axis=0), "a": a})[0]
        1.0 / (1.0 + np.exp(-(cal["a"] * logit + cal["b"])))

    seq = [len(e.ids) for e in tok.encode_batch([(q_prefix + query_pool[0], a) for a in ads])]
    t = timed(run_teacher, max(3, repeats // 3), warmup=1)
    s = timed(run_student, repeats * 20)
    return {
        "n_ads": n_ads, "threads": threads,
        "teacher": t | {"model": "12-layer e5-small cross-encoder + linear head, ONNX fp32",
                        "mean_pair_tokens": round(float(np.mean(seq)), 1)},
        "student": s | {"model": "TwinBERT 4-layer query tower (ONNX fp32) + stored ad vectors + res head",
                        "dim": info["dim"]},
        "speedup_p50": round(t["p50_ms"] / s["p50_ms"], 1),
        "speedup_cpu_p50": round(t["cpu_p50_ms"] / max(s["cpu_p50_ms"], 1e-3), 1),
        "speedup_min": round(t["min_ms"] / s["min_ms"], 1),
    }


def query_encoding(work: Path, query_pool: list[str], threads: int = 1, repeats: int = 200) -> dict:
    """One query (tokenise + forward) and a batch of 32: PyTorch vs ONNX fp32 vs ONNX int8."""
    import json

    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig
    from service.runtime.towers import OnnxTower

    student = build_student(work)
    info = json.loads((student / "model.json").read_text())
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TwinBERT.from_base(TwinBERTConfig(base="multilingual-e5-small", **STUDENT_SHAPE)).eval()
    tok = model.tokenizer("query")
    tower = model.query_tower
    out: dict = {"threads": threads, "query_layers": STUDENT_SHAPE["query_layers"]}

    def torch_encode(texts: list[str]) -> None:
        with torch.inference_mode():
            tower(**tok(texts))

    variants: dict[str, Callable[[list[str]], object]] = {"pytorch": torch_encode}
    for prec in ("fp32", "int8"):
        name = info["encoders"]["query"].get(prec)
        if name:
            t = OnnxTower(student / name, student / "tokenizer.json", info["query_prefix"], info["query_max_len"],
                          threads)
            variants[f"onnx_{prec}"] = t.encode
    for name, fn in variants.items():
        it = iter(query_pool * 1000)
        batches = iter([query_pool[i:i + 32] for i in range(0, len(query_pool) - 32, 32)] * 100)
        one = timed(lambda f=fn, it=it: f([next(it)]), repeats)
        b32 = timed(lambda f=fn, b=batches: f(next(b)), max(5, repeats // 20))
        out[name] = {"batch1": one, "batch32": b32, "batch32_queries_per_s": round(32000 / b32["p50_ms"], 1)}
    base = out["pytorch"]["batch1"]["p50_ms"]
    out["speedup_vs_pytorch_batch1"] = {k: round(base / out[k]["batch1"]["p50_ms"], 2) for k in variants}
    base = out["pytorch"]["batch1"]["cpu_p50_ms"]
    out["cpu_speedup_vs_pytorch_batch1"] = {k: round(base / max(out[k]["batch1"]["cpu_p50_ms"], 1e-3), 2)
                                            for k in variants}
    return out
