"""Texts → unit vectors through one exported tower: the tokenizer and ONNX session pair the service runs.

The service splits the two (it times tokenize and encode apart); offline catalog encoding, bundle checks,
quality checks and benchmarks call `OnnxTower.encode`, so offline ad vectors come from the very same graph
and tokenization as online query vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.bundle.manifest import Manifest
from service.runtime.onnx_model import CPU, TOWER_INPUTS, OnnxModel, TowerEncoder
from service.runtime.tokenize import TextEncoder

ROUTES = ("query", "ad")


class OnnxTower:
    """Texts → float32 (n, dim) unit vectors with one exported tower ("query" or "ad")."""

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path, prefix: str, max_length: int,
                 threads: int = 1, providers: list[str] | None = None, inter_threads: int = 1,
                 dim: int | None = None, text: TextEncoder | None = None) -> None:
        # `text`: a loaded tokenizer of the same file, prefix and length to use instead of loading it again
        self.text = text or TextEncoder.from_file(Path(tokenizer_path), prefix, max_length)
        model = OnnxModel(Path(onnx_path), providers or CPU, threads, inter_threads, TOWER_INPUTS)
        self.encoder = TowerEncoder(model, dim)

    @classmethod
    def from_manifest(cls, version_dir: str | Path, manifest: Manifest, route: str, int8: bool = False,
                      threads: int = 1, providers: list[str] | None = None, inter_threads: int = 1,
                      text: TextEncoder | None = None) -> OnnxTower:
        """The bundle's tower for `route`, int8 when asked and shipped, checked against the manifest's dim."""
        if route not in ROUTES:
            raise KeyError(f"unknown tower {route!r}; towers are {ROUTES}")
        files = getattr(manifest.encoders, route)
        name = files.file("int8" if int8 else "fp32")
        m = manifest.model
        prefix, max_len = (m.query_prefix, m.query_max_len) if route == "query" else (m.ad_prefix, m.ad_max_len)
        d = Path(version_dir)
        return cls(d / name, d / manifest.tokenizer, prefix, max_len, threads, providers, inter_threads, m.dim, text)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            raise ValueError("encode() needs at least one text")
        return self.encoder(*self.text(texts))

    def encode_sorted(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Encode in batches of similar length (less padding), returned in the input order."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        parts = [self.encode([texts[j] for j in order[i:i + batch_size]]) for i in range(0, len(texts), batch_size)]
        if not parts:
            return np.empty((0, 0), dtype=np.float32)
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out
