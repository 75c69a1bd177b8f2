"""The served index and vectors are memory-mapped: they answer as a copy would, also after their files are gone."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from service.runtime.index import AdIndex, AdVectors


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("factory", ["Flat", "HNSW8,SQ8", "IVF4,Flat"])
def test_mapped_index_searches_like_a_copy_after_its_file_is_deleted(tmp_path: Path, factory: str) -> None:
    """An old version's directory may be collected while the service still serves it: the mapping keeps the
    file's pages, so the index it opened keeps answering, exactly as a read copy does."""
    ads, queries = _unit(300, 16, 0), _unit(5, 16, 1)
    built = faiss.index_factory(16, factory, faiss.METRIC_INNER_PRODUCT)
    built.train(ads)
    built.add(ads)
    path = tmp_path / "ads.faiss"
    faiss.write_index(built, str(path))
    copy = faiss.read_index(str(path))
    mapped = AdIndex(path, 16, 300, {})
    path.unlink()
    want_scores, want_ids = copy.search(queries, 10)
    scores, ids = mapped.search(queries, 10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 5000])
def test_vectors_map_their_pages_and_keep_their_rows(tmp_path: Path, n: int) -> None:
    vecs = _unit(n, 16, 2)
    np.save(tmp_path / "v.npy", vecs)
    stored = AdVectors(tmp_path / "v.npy", 16, n, "float32", None)
    stored.map_pages()
    rows = np.arange(n)[::-7]
    np.testing.assert_array_equal(stored.rows(rows), vecs[rows])
