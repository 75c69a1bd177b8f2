"""Index builds from shards: the same index as one array built in blocks, the size tiers and the sample rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offline.publish.index_build import build_index, choose_factory
from offline.publish.index_shards import VectorShard, build_sharded, index_bytes_per_ad, training_rows
from offline.publish.recall import synthetic_unit_vectors


def test_shard_files_build_the_index_one_array_builds(tmp_path: Path, _few_faiss_threads: None) -> None:
    xb, xq = synthetic_unit_vectors(6000, 20, d=32)
    paths = []
    for i, start in enumerate(range(0, len(xb), 2500)):  # uneven shards: 2500, 2500, 1000
        paths.append(tmp_path / f"part-{i}.npy")
        np.save(paths[-1], xb[start:start + 2500])
    sharded, factory = build_sharded([VectorShard.npy(p) for p in paths], "IVFauto,SQ8", {"nprobe": 8})
    whole, _ = build_index(xb, factory, {"nprobe": 8}, device="cpu")
    assert factory == "IVF153,SQ8" and sharded.ntotal == whole.ntotal == 6000
    assert np.array_equal(sharded.search(xq, 10)[1], whole.search(xq, 10)[1])  # same sample, same order


def test_size_tiers_and_sample_rule() -> None:
    assert [choose_factory(n)[0] for n in (10_000, 1_000_000, 10_000_000, 60_000_000)] == [
        "Flat", "HNSW32,SQ8", "IVFauto,SQ8", "IVFauto,PQ32"]
    assert choose_factory(10_000_000)[1] == {"nprobe": 64}
    assert training_rows("IVF12649,SQ8", 10_000_000) == 40 * 12649  # ≥ 39 points per list
    assert training_rows("HNSW32,SQ8", 100) == 100 and training_rows("IVF100,SQ8", 10**6) == 256 * 1024
    assert index_bytes_per_ad("IVF100,PQ32", 128) == 40 and index_bytes_per_ad("HNSW32,SQ8", 128) == 392
