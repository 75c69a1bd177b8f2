"""The ANN libraries compared by the `libraries` bench part, behind one small interface each: build over
float32 unit vectors (inner product), set the one search-time knob, search one query, serialised size.

Build settings match what bundles use today (offline/publish/index_build.py): HNSW graphs with M=32 and
efConstruction=80, so the graph libraries differ in implementation, not in graph size. A library that is not
installed is reported as skipped (`pip install 'twinrank[bench]'`).
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from offline.publish.index_build import HNSW_EF_CONSTRUCTION

HNSW_M = 32
EF_SEARCH = (100, 128, 192, 256, 384)  # k=100: every library searches with at least k candidates
NPROBE = (8, 16, 32, 64, 128)


@dataclass
class Library:
    """One index kind: `build(xb, threads)`, `set(index, value)` for `param`, `search(index, q, k) -> ids`."""

    name: str
    module: str  # the import that must be available
    param: str
    values: tuple[int, ...]
    shipped_value: int | None = None  # the value bundles search with today (the baseline point)
    settings: dict[str, Any] = field(default_factory=dict)

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def build(self, xb: np.ndarray, threads: int) -> Any:
        return _BUILD[self.module](self, xb, threads)

    def set(self, index: Any, value: int) -> None:
        _SET[self.module](index, value)

    def search(self, index: Any, q: np.ndarray, k: int) -> np.ndarray:
        """Ids of the top `k` for a (m, d) batch, one thread unless the library was told otherwise."""
        return _SEARCH[self.module](index, q, k)

    def nbytes(self, index: Any) -> int:
        return _NBYTES[self.module](index)


def ivf_lists(n: int) -> int:
    """IVF list count: about 4·sqrt(n), a power of two, at least 8 (4096 at 1M)."""
    return max(8, 2 ** round(math.log2(4 * math.sqrt(n))))


def libraries(n: int, dim: int) -> list[Library]:
    from offline.publish.index_build import HNSW_EF_SEARCH

    pq = max(1, dim // 4)  # 8-bit codes: 32 bytes per 128-d vector (SQ8: 128)
    return [
        Library("faiss HNSW32,SQ8", "faiss", "efSearch", EF_SEARCH, HNSW_EF_SEARCH,
                {"factory": "HNSW32,SQ8", "efConstruction": HNSW_EF_CONSTRUCTION, "shipped": True}),
        Library(f"faiss IVF{ivf_lists(n)},PQ{pq}", "faiss", "nprobe", NPROBE, None,
                {"factory": f"IVF{ivf_lists(n)},PQ{pq}"}),
        Library("hnswlib", "hnswlib", "ef", EF_SEARCH, None,
                {"space": "ip", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "vectors": "float32"}),
        Library("usearch i8", "usearch", "expansion_search", EF_SEARCH, None,
                {"metric": "cos", "dtype": "i8", "connectivity": HNSW_M, "expansion_add": HNSW_EF_CONSTRUCTION}),
    ]


def _train_sample(xb: np.ndarray, n: int = 64 * 1024) -> np.ndarray:
    """At most `n` rows: PQ codebook training grows with the sample, and 64k is ample for 256 centroids."""
    rng = np.random.default_rng(0)
    return xb if len(xb) <= n else xb[np.sort(rng.choice(len(xb), n, replace=False))]


def _build_faiss(lib: Library, xb: np.ndarray, threads: int):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.index_factory(xb.shape[1], lib.settings["factory"], faiss.METRIC_INNER_PRODUCT)
    if "efConstruction" in lib.settings:
        faiss.downcast_index(index).hnsw.efConstruction = lib.settings["efConstruction"]
    if hasattr(index, "do_polysemous_training"):
        index.do_polysemous_training = False  # the factory turns it on: minutes of annealing, unused here
    if not index.is_trained:
        index.train(_train_sample(xb))
    index.add(xb)
    faiss.omp_set_num_threads(1)
    return index


def _set_faiss(index, value: int) -> None:
    import faiss

    index = faiss.downcast_index(index)
    if hasattr(index, "nprobe"):
        index.nprobe = value
    else:
        index.hnsw.efSearch = value


def _build_hnswlib(lib: Library, xb: np.ndarray, threads: int):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=xb.shape[1])
    index.init_index(max_elements=len(xb), M=lib.settings["M"], ef_construction=lib.settings["ef_construction"],
                     random_seed=0)
    index.add_items(xb, np.arange(len(xb)), num_threads=threads)
    index.set_num_threads(1)
    return index


def _build_usearch(lib: Library, xb: np.ndarray, threads: int):
    from usearch.index import Index

    index = Index(ndim=xb.shape[1], metric=lib.settings["metric"], dtype=lib.settings["dtype"],
                  connectivity=lib.settings["connectivity"], expansion_add=lib.settings["expansion_add"])
    index.add(np.arange(len(xb), dtype=np.uint64), xb, threads=threads)
    return index


def _search_usearch(index, q: np.ndarray, k: int) -> np.ndarray:
    matches = index.search(q, k, threads=1)
    keys = np.asarray(matches.keys, dtype=np.int64)
    return keys.reshape(len(q), -1)


def _set_usearch(index, value: int) -> None:
    index.expansion_search = value


def _file_bytes(save) -> int:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "index"
        save(str(path))
        return path.stat().st_size


def _faiss_bytes(index) -> int:
    import faiss

    return len(faiss.serialize_index(index))


_BUILD = {"faiss": _build_faiss, "hnswlib": _build_hnswlib, "usearch": _build_usearch}
_SET = {"faiss": _set_faiss, "hnswlib": lambda index, v: index.set_ef(v), "usearch": _set_usearch}
_SEARCH = {"faiss": lambda index, q, k: index.search(q, k)[1],
           "hnswlib": lambda index, q, k: index.knn_query(q, k, num_threads=1)[0].astype(np.int64),
           "usearch": _search_usearch}
_NBYTES = {"faiss": _faiss_bytes, "hnswlib": lambda index: _file_bytes(index.save_index),
           "usearch": lambda index: _file_bytes(index.save)}
