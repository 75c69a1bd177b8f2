"""FAISS index builds from vectors held as shards (files, or slices of one memmap), memory bounded by the index.

Training reads a seeded row sample across the shards; adding reads one shard at a time. Peak memory is
therefore about `index bytes + training sample + one shard`, whatever the catalog size:

  index bytes per ad: HNSW32,SQ8 ≈ d + 2·32·4 + 8 (graph links) · IVF,SQ8 ≈ d + 8 (ids) · IVF,PQm ≈ m + 8
  training sample: max(256k, 40 · nlist) rows · d · 4 bytes (FAISS wants ≥ 39 points per list)

The factory follows the catalog size (`large_factory`): exact Flat for small catalogs, an HNSW graph over 8-bit
codes while its build time and 384 B/ad stay reasonable, IVF over 8-bit codes (136 B/ad) to 50M ads, IVF-PQ
(d/4 + 8 B/ad) beyond.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.runtime.index import dequantize

log = logging.getLogger(__name__)
FLAT_MAX_ADS = 50_000
HNSW_MAX_ADS = 5_000_000
IVF_SQ_MAX_ADS = 50_000_000
MIN_TRAIN = 256 * 1024
MAX_TRAIN = 2_000_000
POINTS_PER_LIST = 40


@dataclass
class VectorShard:
    """`n` rows of vectors; `load()` returns them as an array (read from disk on demand)."""

    n: int
    dim: int
    load: Callable[[], np.ndarray]

    @classmethod
    def npy(cls, path: str | Path) -> VectorShard:
        path = Path(path)
        n, dim = np.load(path, mmap_mode="r").shape
        return cls(int(n), int(dim), lambda: np.load(path))

    @classmethod
    def rows_of(cls, vectors, start: int, stop: int) -> VectorShard:
        return cls(stop - start, int(vectors.shape[1]), lambda: np.asarray(vectors[start:stop]))


def memmap_shards(vectors, rows_per_shard: int = 65_536) -> list[VectorShard]:
    """Shards that are consecutive slices of one (memory-mapped) array."""
    n = vectors.shape[0]
    return [VectorShard.rows_of(vectors, i, min(i + rows_per_shard, n)) for i in range(0, n, rows_per_shard)]


def large_factory(n_ads: int, dim: int) -> str:
    """The index kind by size (see the module docstring for the bytes per ad behind the thresholds)."""
    if n_ads < FLAT_MAX_ADS:
        return "Flat"
    if n_ads < HNSW_MAX_ADS:
        return "HNSW32,SQ8"
    if n_ads < IVF_SQ_MAX_ADS:
        return "IVFauto,SQ8"
    return f"IVFauto,PQ{max(dim // 4, 1)}"


def nlist_for(n_ads: int) -> int:
    """About 4·sqrt(n) lists (FAISS's rule of thumb), capped so each has ≥ 39 points."""
    return max(1, min(int(4 * math.sqrt(n_ads)), n_ads // 39))


def training_rows(factory: str, n_ads: int) -> int:
    """How many sample rows train `factory` (only IVF needs more than the default, for its lists)."""
    want = MIN_TRAIN
    if factory.startswith("IVF"):
        nlist = int(factory[3:].split(",")[0].split("_")[0])
        want = max(want, POINTS_PER_LIST * nlist)
    return min(n_ads, want, MAX_TRAIN)


def index_bytes_per_ad(factory: str, dim: int) -> float:
    """The resident bytes per ad of an index kind, for planning (the module docstring's table)."""
    code = dim
    if ",PQ" in factory:
        code = int(factory.split(",PQ")[1].split("x")[0].split(",")[0])
    if factory.startswith("Flat"):
        return 4 * dim + 8
    if factory.startswith("HNSW"):
        return code + 2 * 32 * 4 + 8
    return code + 8


def sample_rows(shards: Sequence[VectorShard], rows: np.ndarray) -> np.ndarray:
    """The rows (sorted global row numbers) of the concatenated shards, read shard by shard."""
    out = []
    start = 0
    for shard in shards:
        stop = start + shard.n
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            out.append(np.asarray(shard.load()[rows[lo:hi] - start]))
        start = stop
    return np.concatenate(out)


def build_sharded(shards: Sequence[VectorShard], factory: str, search_params: dict | None = None,
                  scale: float | None = None, seed: int = 0, hnsw_ef_construction: int = 80,
                  on_shard: Callable[[int, int], None] | None = None):
    """A CPU FAISS inner-product index over the concatenated shards, trained on a sample, added shard by shard.

    `factory` may say `IVFauto` (→ `nlist_for(n)`). Returns (index, resolved factory).
    """
    import faiss

    n = sum(s.n for s in shards)
    if n == 0:
        raise ValueError("no vectors to index")
    d = shards[0].dim
    if factory.startswith("IVFauto"):
        factory = factory.replace("IVFauto", f"IVF{nlist_for(n)}", 1)
    index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    if factory.startswith("HNSW"):
        faiss.downcast_index(index).hnsw.efConstruction = hnsw_ef_construction
    if not index.is_trained:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, size=training_rows(factory, n), replace=False))
        index.train(dequantize(sample_rows(shards, rows), scale))
        log.info("trained %s on %d sampled vectors in %.1fs", factory, len(rows), time.perf_counter() - t0)
    for i, shard in enumerate(shards):
        index.add(dequantize(shard.load(), scale))
        if on_shard is not None:
            on_shard(i, shard.n)
    if search_params:
        faiss.ParameterSpace().set_index_parameters(index, ",".join(f"{k}={v}" for k, v in search_params.items()))
    return index, factory
