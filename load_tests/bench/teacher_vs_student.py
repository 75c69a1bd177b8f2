"""Benchmark part 1: the 12-layer cross-encoder teacher vs the TwinBERT student scoring the same 100 ads,
both in ONNX Runtime, on the same thread count; the student through the service's runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from load_tests.bench.student_models import TEACHER_MAX_LEN, build_student, build_teacher, timed


def teacher_vs_student(work: Path, query_pool: list[str], ad_texts: list[str], threads: int = 1,
                       repeats: int = 10, n_ads: int = 100) -> dict:
    """Score `n_ads` ads for one query: teacher = n_ads cross-encoder passes in one ONNX batch (with
    tokenisation); student = tokenise + encode the query, gather stored ad vectors, residual head,
    calibration — what the service does for `ads` given by id."""
    from service.bundle import Calibration
    from service.runtime.heads import ResHead, calibrate
    from service.runtime.onnx_model import CPU, OnnxModel, make_session
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
    res = ResHead(OnnxModel(student / info["heads"]["res"]["file"], CPU, threads, 1, ("q", "a")))
    cal = Calibration.model_validate(info["calibration"])
    stored = rng.standard_normal((20_000, info["dim"])).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    rows = rng.choice(len(stored), n_ads, replace=False)

    def run_student() -> None:
        q = q_tower.encode([next(queries)])
        a = stored[rows]
        calibrate(res(q[0], a), cal)

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
