"""Benchmark part 2: encoding one query and a batch of 32 with the student's query tower in PyTorch, ONNX fp32
and ONNX int8 (the service's runtime), on the same thread count."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from load_tests.bench.student_models import STUDENT_SHAPE, build_student, timed


def query_encoding(work: Path, query_pool: list[str], threads: int = 1, repeats: int = 200) -> dict:
    """One query (tokenise + forward) and a batch of 32: PyTorch vs ONNX fp32 vs ONNX int8."""
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
