"""Crossing heads and calibration over (query, ad) vector pairs, numpy in and out."""

from __future__ import annotations

import numpy as np

from service.bundle.manifest import Calibration
from service.runtime.onnx_model import OnnxModel


def cos_logits(q: np.ndarray, ads: np.ndarray, scale: float, bias: float) -> np.ndarray:
    """logits = scale · (q · a) + bias for q (dim,) against ads (n, dim), or row by row for q (n, dim)."""
    if q.ndim == 1:
        return scale * (ads @ q) + bias
    return scale * np.sum(q * ads, axis=-1) + bias


def calibrate(logits: np.ndarray, calibration: Calibration) -> np.ndarray:
    """relevance = sigmoid(a · logit + b), float64; z is clipped to ±60 so exp cannot overflow."""
    z = calibration.a * np.asarray(logits, dtype=np.float64) + calibration.b
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


class ResHead:
    """TwinBERT's residual crossing head exported to ONNX: (q, a) float32 (n, dim) → logit (n,)."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    def __call__(self, q: np.ndarray, ads: np.ndarray) -> np.ndarray:
        """q (dim,) is scored against every row of ads (n, dim)."""
        qs = np.broadcast_to(q.astype(np.float32), ads.shape).copy()
        return np.asarray(self.model.run(q=qs, a=ads.astype(np.float32, copy=False)), dtype=np.float64).reshape(-1)
