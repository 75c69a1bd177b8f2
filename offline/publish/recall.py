"""Recall of an ANN index against exact search, and the seeded synthetic vectors it is measured on.

FAISS's `SyntheticDataset` has a low intrinsic dimension (about 10), so ANN on it is not trivial, and the
vectors are L2-normalised, so inner product is cosine as with our embeddings; uniformly random vectors would
make any ANN index look either trivial or hopeless. Tests, the scale bench and `twinrank bench` use these.
"""

from __future__ import annotations

import numpy as np


def synthetic_unit_vectors(n: int, nq: int, d: int = 128, seed: int = 1338) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) database and (nq, d) query vectors, float32, L2-normalised, from one seeded distribution."""
    from faiss.contrib.datasets import SyntheticDataset

    ds = SyntheticDataset(d, 0, n, nq, metric="IP", seed=seed)
    xb = ds.get_database().astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = ds.get_queries().astype(np.float32)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    return xb, xq


def recall(got: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean |got[:k] ∩ truth[:k]| / k over the rows of two (nq, ≥k) id arrays."""
    return float(np.mean([len(set(g[:k]) & set(t[:k])) / k for g, t in zip(got, truth, strict=True)]))


def recall_at_k(index, xb: np.ndarray, xq: np.ndarray, k: int = 100) -> float:
    """Recall@k of `index` against brute-force inner product over `xb`."""
    import faiss

    _, truth = faiss.knn(xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT)
    _, got = index.search(xq, k)
    return recall(got, truth, k)
