"""Which accelerator to use: the ORT CUDA provider and FAISS GPU when present and allowed."""

from __future__ import annotations

import onnxruntime as ort


def ort_providers(device: str) -> list[str]:
    """`auto` takes CUDA when this onnxruntime build has it; `cuda` insists; `cpu` never uses it."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise RuntimeError(f"device=cuda but onnxruntime offers only {available} (install onnxruntime-gpu)")
    return ["CPUExecutionProvider"]


def faiss_gpus(device: str) -> int:
    """Number of GPUs FAISS can use under this device setting (0 means CPU)."""
    if device == "cpu":
        return 0
    import faiss

    n = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if device == "cuda" and n == 0:
        raise RuntimeError("device=cuda but this faiss build sees no GPU (install a faiss GPU build)")
    return n
