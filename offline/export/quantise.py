"""int8: dynamic quantisation of an exported ONNX tower (and how closely it agrees with fp32), and the 8-bit
codes of unit ad vectors a bundle may store. Torch-free at import (index build and update use the codes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from models.twinbert import TwinBERT

INT8_SCALE = 1.0 / 127.0


def quantize_vectors(v: np.ndarray) -> np.ndarray:
    """Uniform 8-bit codes of unit vectors (coordinates in [-1, 1]): code = round(v · 127)."""
    return np.clip(np.rint(v / INT8_SCALE), -127, 127).astype(np.int8)


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantisation (weights int8, activations quantised at run time) of an ONNX tower."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
    return dst


def int8_agreement(fp32_path: Path, int8_path: Path, model: TwinBERT, route: str) -> float:
    """Mean cosine between fp32 and int8 ONNX embeddings of the sample texts (a sanity figure, not a gate)."""
    from offline.export.parity import SAMPLE_TEXTS
    from service.runtime.onnx_model import make_session

    feats = {k: v.numpy() for k, v in model.tokenizer(route)(SAMPLE_TEXTS).items()}
    a = make_session(fp32_path).run(["embedding"], feats)[0]
    b = make_session(int8_path).run(["embedding"], feats)[0]
    return float(np.mean(np.sum(a * b, axis=1) / np.linalg.norm(b, axis=1)))
