"""Torch-free inference over a bundle's files: tokenizer + ONNX tower, ONNX residual head, calibration.

The offline catalog encoder and the bundle smoke test use these, so offline ad vectors come from the very
same ONNX graph and tokenization as online query vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.manifest import Calibration, Manifest


def make_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime CPU session with a fixed thread count (the machine is shared)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_tokenizer(path: str | Path, max_length: int):
    """A HF `tokenizers` tokenizer truncating at `max_length` and padding to the longest in the batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    pad_id = tok.token_to_id("<pad>")
    if pad_id is None:
        pad_id = tok.token_to_id("[PAD]") or 0
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=pad_id)
    return tok


class OnnxTower:
    """Texts → float32 (n, dim) unit vectors with one exported tower ("query" or "ad")."""

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path, prefix: str, max_length: int,
                 threads: int = 1) -> None:
        self.session = make_session(onnx_path, threads)
        self.tokenizer = load_tokenizer(tokenizer_path, max_length)
        self.prefix = prefix

    @classmethod
    def from_manifest(cls, version_dir: str | Path, manifest: Manifest, route: str, int8: bool = False,
                      threads: int = 1) -> OnnxTower:
        if route not in ("query", "ad"):
            raise KeyError(f"unknown tower {route!r}; towers are ('query', 'ad')")
        files = getattr(manifest.encoders, route)
        name = files.int8 if int8 and files.int8 else files.fp32
        m = manifest.model
        prefix, max_len = (m.query_prefix, m.query_max_len) if route == "query" else (m.ad_prefix, m.ad_max_len)
        d = Path(version_dir)
        return cls(d / name, d / manifest.tokenizer, prefix, max_len, threads)

    def features(self, texts: list[str]) -> dict[str, np.ndarray]:
        enc = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            raise ValueError("encode() needs at least one text")
        return self.session.run(["embedding"], self.features(texts))[0].astype(np.float32, copy=False)


def ad_text(title: str, description: str, separator: str = " ") -> str:
    """The ad text the ad tower sees (must equal `models.text.ad_text`)."""
    return f"{title}{separator}{description}".strip()


def cos_logits(q: np.ndarray, a: np.ndarray, scale: float, bias: float) -> np.ndarray:
    return scale * np.sum(q * a, axis=-1) + bias


def calibrate(logits: np.ndarray, calibration: Calibration) -> np.ndarray:
    """relevance = sigmoid(a · logit + b)."""
    z = calibration.a * np.asarray(logits, dtype=np.float64) + calibration.b
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def dequantize(vectors: np.ndarray, scale: float | None) -> np.ndarray:
    """Stored ad vectors as float32 (int8 vectors are uniform codes: float = code · scale)."""
    if vectors.dtype == np.int8:
        if not scale:
            raise ValueError("int8 vectors need a scale")
        return vectors.astype(np.float32) * np.float32(scale)
    return np.asarray(vectors, dtype=np.float32)
