"""Crossing heads and calibration over (query, ad) vector pairs, numpy in and out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.runtime.onnx_model import OnnxModel


def cos_logits(q: np.ndarray, ads: np.ndarray, scale: float, bias: float) -> np.ndarray:
    """q: (dim,), ads: (n, dim) → (n,) logits = scale · (q · a) + bias."""
    return scale * (ads @ q) + bias


@dataclass
class Calibration:
    """relevance = sigmoid(a · logit + b) of the named head's logit."""

    head: str
    a: float
    b: float

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        z = self.a * np.asarray(logits, dtype=np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


class ResHead:
    """TwinBERT's residual crossing head exported to ONNX: (q, a) float32 (n, dim) → logit (n,)."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    def __call__(self, q: np.ndarray, ads: np.ndarray) -> np.ndarray:
        qs = np.broadcast_to(q.astype(np.float32), ads.shape).copy()
        return np.asarray(self.model.run(q=qs, a=ads.astype(np.float32, copy=False)), dtype=np.float64).reshape(-1)
