"""FAISS index choice and recall against exact search on seeded low-intrinsic-dimension vectors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from offline.publish.index_build import FLAT_MAX_ADS, build_index, choose_factory, pick_device, resolve_ivf
from offline.publish.recall import recall_at_k, synthetic_unit_vectors

faiss.omp_set_num_threads(1)


def test_factory_by_size() -> None:
    assert choose_factory(10) == ("Flat", {})
    assert choose_factory(FLAT_MAX_ADS) == ("HNSW32,SQ8", {"efSearch": 128})
    assert choose_factory(5, "IVF64,PQ8")[1] == {"nprobe": 32}
    assert resolve_ivf("IVFauto,PQ16", 1_000_000) == "IVF4000,PQ16"
    assert resolve_ivf("IVFauto,Flat", 100) == "IVF2,Flat"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_unit_vectors(6000, 50, d=32, seed=7)


def test_flat_is_exact(data) -> None:
    xb, xq = data
    index, device = build_index(xb, "Flat", device="cpu")
    assert device == "cpu" and recall_at_k(index, xb, xq, 50) == 1.0


def test_hnsw_recall_vs_exact(data) -> None:
    xb, xq = data
    factory, params = choose_factory(100_000)
    index, _ = build_index(xb, factory, params, device="auto")
    assert index.ntotal == len(xb) and faiss.downcast_index(index).hnsw.efSearch == 128
    assert recall_at_k(index, xb, xq, 100) >= 0.95


def test_the_perf_bench_serves_the_index_a_1m_catalog_gets() -> None:
    from load_tests.bench.synthetic_bundle import E2E_FACTORY

    assert choose_factory(1_000_000)[0] == E2E_FACTORY


def test_ivf_builds_with_nprobe(data) -> None:
    xb, xq = data
    factory, params = choose_factory(len(xb), resolve_ivf("IVFauto,Flat", len(xb)))
    index, _ = build_index(xb, factory, params, device="cpu")
    assert faiss.extract_index_ivf(index).nprobe == 32
    assert recall_at_k(index, xb, xq, 10) >= 0.9


def test_int8_vectors_are_dequantised_for_the_index(data) -> None:
    from offline.export.quantise import INT8_SCALE, quantize_vectors

    xb, xq = data
    index, _ = build_index(quantize_vectors(xb), "Flat", scale=INT8_SCALE, device="cpu")
    assert recall_at_k(index, xb, xq, 100) >= 0.9


def test_gpu_device_needs_a_gpu() -> None:
    if faiss.get_num_gpus() > 0:
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no GPU"):
        pick_device("gpu")
    assert pick_device("auto") == "cpu"
