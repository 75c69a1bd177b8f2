"""Encode a catalog with the exported ONNX ad tower, block by block, into a vectors file and an ad table.

Memory stays bounded by one block plus the (memory-mapped) vectors file; a tqdm bar shows ads/s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline.data.catalog import AdBlock
from offline.export.quantise import quantize_vectors
from service.bundle import ad_text
from service.bundle.manifest import EncoderFiles
from service.runtime.towers import OnnxTower


@dataclass
class EncodeStats:
    n_ads: int
    n_encoded: int
    seconds: float

    @property
    def ads_per_s(self) -> float:
        return self.n_encoded / self.seconds if self.seconds > 0 else float("nan")


def ad_tower(model_dir: Path, info: dict, int8: bool = False, threads: int = 1) -> OnnxTower:
    """The exported ad tower of a model directory (`info` = its model.json)."""
    files = info["encoders"]["ad"]
    name = EncoderFiles.model_validate(files).file("int8" if int8 else "fp32")
    return OnnxTower(model_dir / name, model_dir / "tokenizer.json", info["ad_prefix"], info["ad_max_len"], threads)


def open_vectors(path: Path, n: int, dim: int, dtype: str):
    """A writable memmap of (n, dim), its blocks allocated up front: a full disk fails here with ENOSPC
    instead of killing the process with SIGBUS when a page of the mapping is first written."""
    from offline.publish.bundle_writer import enospc_for_tests

    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=(n, dim))
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(path)) from e
    enospc_for_tests(path.parent)
    return vectors


def encode_blocks(tower: OnnxTower, blocks: Iterable[AdBlock], n_total: int, vectors, table_path: Path,
                  separator: str = " ", batch_size: int = 64, reuse=None, progress: bool = True) -> EncodeStats:
    """Write the ad table (Parquet, streamed) and the vectors (memmap `vectors`), row i ↔ vector i.

    Args:
        reuse: optional callable(block) -> (mask of rows whose vectors are given, those vectors) so that
            an update re-encodes only new or changed ads.
    """
    import pyarrow.parquet as pq
    from tqdm import tqdm

    t0 = time.perf_counter()
    encoded = 0
    writer = None
    bar = tqdm(total=n_total, unit="ad", desc="encode", disable=not progress, mininterval=1.0)
    try:
        for block in blocks:
            vecs = np.empty((len(block), vectors.shape[1]), dtype=np.float32)
            todo = np.ones(len(block), dtype=bool)
            if reuse is not None:
                have, given = reuse(block)
                vecs[have] = given
                todo = ~have
            idx = np.nonzero(todo)[0]
            if len(idx):
                texts = [ad_text(block.title[i], block.description[i], separator) for i in idx]
                vecs[idx] = tower.encode_sorted(texts, batch_size)
                encoded += len(idx)
            rows = slice(block.start, block.start + len(block))
            vectors[rows] = quantize_vectors(vecs) if vectors.dtype == np.int8 else vecs
            table = block.to_arrow()
            writer = writer or pq.ParquetWriter(table_path, table.schema)
            writer.write_table(table)
            bar.update(len(block))
            bar.set_postfix(encoded=encoded)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("no ads to write")
    vectors.flush()
    return EncodeStats(n_total, encoded, time.perf_counter() - t0)
