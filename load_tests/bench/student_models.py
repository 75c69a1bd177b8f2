"""The models benchmark parts 1 and 2 time, and how they are timed. The student is a TwinBERT built from the
packaged multilingual-e5-small with the shipped recipe's shape (4-layer query tower, 12-layer ad tower, 128-d
projection), exported by `offline.export`; the teacher is a 12-layer e5-small cross-encoder with a linear head
(`models.cross_encoder`) exported to ONNX. Weights need not be trained for timing: cost depends on shapes.
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
