"""The FAISS ad index and the stored ad vectors: search and lookup, numpy in and out."""

from __future__ import annotations

import logging
import mmap
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


class AdIndex:
    """A FAISS inner-product index over unit ad vectors (FAISS id = ad table row)."""

    def __init__(self, path: Path, dim: int, n_ads: int, search_params: dict, gpus: int = 0) -> None:
        try:
            # Memory-mapped where FAISS can (flat codes and HNSW graphs: a 1M-ad HNSW32,SQ8 index maps whole). It
            # opens in 40 ms instead of 0.3-1.5 s of copying, its pages are the page cache's (no private copy), and
            # dropping it is an munmap: 3 ms, where freeing a copy took 38 ms inside FAISS's destructor, which holds
            # the GIL: a stall of every request thread when a swap retires the old bundle.
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError as exc:
            raise ValueError(f"{path.name}: FAISS cannot read it: {exc}") from exc
        if index.d != dim:
            raise ValueError(f"{path.name}: index dimension {index.d}, manifest says {dim}")
        if index.ntotal != n_ads:
            raise ValueError(f"{path.name}: index holds {index.ntotal} vectors, manifest says {n_ads}")
        if search_params:
            spec = ",".join(f"{k}={v}" for k, v in search_params.items())
            faiss.ParameterSpace().set_index_parameters(index, spec)
        self.on_gpu = False
        if gpus > 0:
            try:
                index = faiss.index_cpu_to_all_gpus(index)
                self.on_gpu = True
            except RuntimeError as exc:  # e.g. HNSW has no GPU implementation: keep it on the CPU
                log.warning("%s stays on the CPU: %s", path.name, exc)
        self.index = index
        self.dim = dim
        self.size = n_ads

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """q: float32 (n, dim). Returns (scores, ids), each (n, min(k, size)); ids are int64 rows, -1 = none."""
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors have shape {q.shape}, expected (n, {self.dim})")
        k = min(k, self.size)
        scores, ids = self.index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        return scores, ids


def dequantize(vectors: np.ndarray, scale: float | None) -> np.ndarray:
    """Stored ad vectors as float32 (int8 vectors are uniform codes: float = code · scale)."""
    if vectors.dtype == np.int8:
        if not scale:
            raise ValueError("int8 vectors need a scale")
        return vectors.astype(np.float32) * np.float32(scale)
    return np.asarray(vectors, dtype=np.float32)


class AdVectors:
    """Stored ad vectors (float32, or int8 with a scale), memory-mapped; rows → float32 vectors."""

    def __init__(self, path: Path, dim: int, n_ads: int, dtype: str, scale: float | None) -> None:
        try:
            data = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path.name}: not a readable .npy file: {exc}") from exc
        if data.shape != (n_ads, dim):
            raise ValueError(f"{path.name}: shape {data.shape}, manifest says ({n_ads}, {dim})")
        if str(data.dtype) != dtype:
            raise ValueError(f"{path.name}: dtype {data.dtype}, manifest says {dtype}")
        if dtype == "int8" and not scale:
            raise ValueError(f"{path.name}: int8 vectors need vectors_scale in the manifest")
        self.data = data
        self.scale = float(scale) if dtype == "int8" else None

    def map_pages(self) -> None:
        """Read one byte of every page of the mapping, so each is mapped into this process before requests use
        it. A request's candidate rows are scattered over the file: on a fresh mapping every one is a page fault,
        and the first mapping of a file just written costs far more (1M×128 float32 right after `index update`:
        0.25 s of CPU for the whole file; 8 ms once mapped before). Here that cost falls on the loading thread,
        before the swap, instead of on the request threads of the first seconds after it."""
        flat = self.data.reshape(-1).view(np.uint8)
        if flat.size:
            int(flat[:: mmap.PAGESIZE].sum())

    def rows(self, rows: np.ndarray) -> np.ndarray:
        return dequantize(np.asarray(self.data[np.asarray(rows, dtype=np.int64)]), self.scale)
