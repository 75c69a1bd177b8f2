"""An ad tower whose encoding runs on Ray actors (each one ONNX Runtime session), for `index update --engine
ray`: it has `OnnxTower.encode_sorted`'s signature, so the update path is the single-process one with the
encoding farmed out. The actors live as long as this object; the model files reach them by the object store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offline.publish.ray_encode import RAY_BATCH
from service.bundle import Manifest


class _TowerWorker:
    def __init__(self, onnx_name: str, onnx_bytes: bytes, tokenizer_bytes: bytes, prefix: str, max_len: int,
                 threads: int, use_gpu: bool) -> None:
        import tempfile

        from service.runtime.providers import ort_providers
        from service.runtime.towers import OnnxTower

        self._dir = tempfile.TemporaryDirectory(prefix="twinrank-ad-tower-")
        onnx, tok = Path(self._dir.name) / onnx_name, Path(self._dir.name) / "tokenizer.json"
        onnx.write_bytes(onnx_bytes)
        tok.write_bytes(tokenizer_bytes)
        self.tower = OnnxTower(onnx, tok, prefix, max_len, threads, ort_providers("cuda" if use_gpu else "cpu"))

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.tower.encode_sorted(texts, batch_size)


class RayAdTower:
    """`encode_sorted` over `actors` Ray actors; chunks of `chunk` texts, results in input order."""

    def __init__(self, version_dir: Path, manifest: Manifest, actors: int = 1, threads_per_actor: int = 1,
                 use_gpu: bool = False, chunk: int = RAY_BATCH) -> None:
        import ray

        name = manifest.encoders.ad.file("fp32")
        m = manifest.model
        onnx_ref = ray.put((Path(version_dir) / name).read_bytes())
        tok_ref = ray.put((Path(version_dir) / manifest.tokenizer).read_bytes())
        cls = ray.remote(num_cpus=threads_per_actor, num_gpus=1 if use_gpu else 0)(_TowerWorker)
        self.workers = [cls.remote(name, onnx_ref, tok_ref, m.ad_prefix, m.ad_max_len, threads_per_actor, use_gpu)
                        for _ in range(actors)]
        self.chunk = chunk

    def encode_sorted(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import ray

        parts = [texts[i:i + self.chunk] for i in range(0, len(texts), self.chunk)]
        refs = [self.workers[j % len(self.workers)].encode.remote(p, batch_size) for j, p in enumerate(parts)]
        return np.concatenate(ray.get(refs)) if refs else np.empty((0, 0), dtype=np.float32)

    def close(self) -> None:
        import ray

        for w in self.workers:
            ray.kill(w)
        self.workers = []
