"""FAISS index build and `build_bundle`: catalog → encoded ads → index → a published bundle version.

The index kind follows the catalog size unless a factory string is given (`index_shards.large_factory`): exact
`Flat` below `FLAT_MAX_ADS`, `HNSW32,SQ8` to `HNSW_MAX_ADS` (memory ≈ n · (dim + 264) bytes), IVF over 8-bit
codes above (n · (dim + 8)), IVF-PQ past 50M; CPU builds train on a sample and add in blocks, so memory is
bounded by the index, not by the vectors (reports/scale). The graph walks 8-bit codes because the
service rescores every candidate from the bundle's stored vectors anyway: that searches faster at about the same
recall (reports/perf/README.md) and stops the index from holding a second float copy of the vectors. The stored index
is always a CPU index; `device="auto"` trains/adds on a GPU when the faiss build has one and the index kind
supports it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from offline.data.catalog import iter_blocks, scan_catalog
from offline.errors import PublishConflict
from offline.export.model_dir import read_model_dir
from offline.export.quantise import INT8_SCALE
from offline.publish.bundle_writer import DEFAULT_KEEP, enospc_for_tests, link_or_copy, publish, staging_dir
from offline.publish.encode_catalog import ad_tower, encode_blocks, open_vectors
from offline.publish.index_shards import (
    FLAT_MAX_ADS,  # noqa: F401 (re-exported: the size rule lives in index_shards)
    HNSW_MAX_ADS,
    build_sharded,
    large_factory,
    memmap_shards,
    nlist_for,
    training_rows,
)
from service.bundle import CURRENT_NAME, INDEX_FILE, MANIFEST_NAME, VECTORS_FILE, read_current
from service.runtime.index import dequantize

log = logging.getLogger(__name__)
ANN_FACTORY = "HNSW32,SQ8"
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
IVF_NPROBE = 32
IVF_NPROBE_LARGE = 64  # the IVF,SQ8 tier (≥ 5M ads): recall@100 in reports/scale/index.json
ADD_BLOCK = 65_536


def choose_factory(n_ads: int, factory: str | None = None, dim: int = 128) -> tuple[str, dict]:
    """The factory string and default search parameters for a catalog of `n_ads` (by size: `large_factory`)."""
    if factory is None:
        factory = large_factory(n_ads, dim)
    if factory.startswith("IVF") and n_ads >= HNSW_MAX_ADS:
        return factory, {"nprobe": IVF_NPROBE_LARGE}
    if factory.startswith("HNSW"):
        return factory, {"efSearch": HNSW_EF_SEARCH}
    if factory.startswith("IVF"):
        return factory, {"nprobe": IVF_NPROBE}
    return factory, {}


def resolve_ivf(factory: str, n_ads: int) -> str:
    """`IVFauto,...` → IVF with about 4·sqrt(n) lists (FAISS's rule of thumb), capped so each has ≥ 39 points."""
    if not factory.startswith("IVFauto"):
        return factory
    return factory.replace("IVFauto", f"IVF{nlist_for(n_ads)}", 1)


def pick_device(device: str) -> str:
    import faiss

    n_gpu = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if device == "auto":
        return "gpu" if n_gpu > 0 else "cpu"
    if device == "gpu" and n_gpu == 0:
        raise ValueError("device='gpu' but this faiss build sees no GPU (install faiss-gpu, or use device='auto')")
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu' (got {device!r})")
    return device


def build_index(vectors: np.ndarray, factory: str, search_params: dict | None = None, device: str = "auto",
                scale: float | None = None, seed: int = 0):
    """A CPU FAISS inner-product index over `vectors` (n, d), added block by block.

    Returns (index, device actually used). HNSW has no GPU form in faiss, so it always builds on CPU.
    """
    import faiss

    n, d = vectors.shape
    used = pick_device(device)
    if "HNSW" in factory:
        used = "cpu"
    if used == "cpu":  # trained on a sample, added block by block: memory ≈ the index, not the vectors
        index, _ = build_sharded(memmap_shards(vectors, ADD_BLOCK), factory, search_params, scale, seed,
                                 HNSW_EF_CONSTRUCTION)
        return index, used
    work = faiss.index_cpu_to_all_gpus(faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT))
    if not work.is_trained:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=training_rows(factory, n), replace=False))
        work.train(dequantize(np.asarray(vectors[sample]), scale))
    for i in range(0, n, ADD_BLOCK):
        work.add(dequantize(np.asarray(vectors[i:i + ADD_BLOCK]), scale))
    index = faiss.index_gpu_to_cpu(work)
    set_search_params(index, search_params or {})
    return index, used


def set_search_params(index, params: dict) -> None:
    import faiss

    if params:
        faiss.ParameterSpace().set_index_parameters(index, ",".join(f"{k}={v}" for k, v in params.items()))


def manifest_fields(info: dict, index_info: dict) -> dict:
    """Manifest content taken from an export's model.json and the index just built."""
    model_keys = ("base", "model_id", "recipe", "metrics", "query_prefix", "ad_prefix", "ad_separator", "query_max_len",
                  "ad_max_len", "dim", "versions")
    metrics = dict(info.get("metrics", {}))
    metrics.setdefault("onnx_parity_max_abs_diff", info.get("parity_max_abs_diff", {}))
    return {"model": {k: info[k] for k in model_keys if k in info} | {"metrics": metrics},
            "encoders": info["encoders"], "heads": info["heads"], "calibration": info["calibration"],
            "index": index_info}


def build_bundle(model_dir: str | Path, catalog_path: str | Path, bundles_root: str | Path,
                 factory: str | None = None, vectors_dtype: str = "float32", device: str = "auto",
                 keep: int = DEFAULT_KEEP, batch_size: int = 64, block_size: int = 8192, threads: int = 1,
                 progress: bool = True, force: bool = False) -> Path:
    """Encode `catalog_path` with the model directory's ad tower, index it, publish a new bundle version.

    The build replaces the version CURRENT named when it started. If another writer switched CURRENT in the
    meantime (an update, say), `PublishConflict` and nothing is published, unless `force`: replace whatever
    is current then.
    """
    model_dir, catalog_path = Path(model_dir), Path(catalog_path)
    parent = read_current(bundles_root)
    info = read_model_dir(model_dir)
    n = scan_catalog(catalog_path)
    with staging_dir(bundles_root) as staging:
        copy_model_files(model_dir, info, staging)
        vectors = open_vectors(staging / VECTORS_FILE, n, info["dim"], vectors_dtype)
        stats = encode_blocks(ad_tower(model_dir, info, threads=threads), iter_blocks(catalog_path, block_size), n,
                              vectors, staging / "ads.parquet", info["ad_separator"], batch_size, progress=progress)
        log.info("encoded %d ads in %.1fs (%.1f ads/s)", stats.n_encoded, stats.seconds, stats.ads_per_s)
        index_info = write_index(staging, vectors, factory, vectors_dtype, device)
        del vectors
        return publish_build(staging, manifest_fields(info, index_info), bundles_root, parent, force, keep)


def publish_build(staging: Path, fields: dict, bundles_root: str | Path, parent: str | None, force: bool,
                  keep: int) -> Path:
    """Publish a full build that replaces `parent` (CURRENT when the build started): `PublishConflict`, naming
    both versions, when another writer switched CURRENT meanwhile, unless `force`."""
    try:
        return publish(staging, fields, parent=parent, force=force, keep=keep)
    except PublishConflict as e:
        raise PublishConflict(f"{Path(bundles_root) / CURRENT_NAME}: moved from {parent} to {e.current} while "
                              "this build ran; nothing published (build again, or pass --force to replace "
                              "whatever is current)", current=e.current, expected=parent) from None


def copy_model_files(src_dir: Path, info: dict, staging: Path) -> None:
    """ONNX files and tokenizer of the model (hard links when possible: they are never modified)."""
    for name in info["files"]:
        if name != MANIFEST_NAME:
            link_or_copy(src_dir / name, staging / name)


def write_index(staging: Path, vectors, factory: str | None, vectors_dtype: str, device: str) -> dict:
    n = vectors.shape[0]
    factory, params = choose_factory(n, factory, vectors.shape[1])
    factory = resolve_ivf(factory, n)
    scale = INT8_SCALE if vectors_dtype == "int8" else None
    t0 = time.perf_counter()
    index, used = build_index(vectors, factory, params, device, scale)
    log.info("built %s over %d ads on %s in %.1fs", factory, n, used, time.perf_counter() - t0)
    _save_index(index, staging)
    return {"factory": factory, "metric": "ip", "search_params": params, "n_ads": n, "file": INDEX_FILE,
            "vectors_file": VECTORS_FILE, "vectors_dtype": vectors_dtype, "vectors_scale": scale,
            "device_built": used}


def append_to_index(staging: Path, base_index: Path, base_info: dict, vectors) -> dict:
    """The index of `base_index` (built over `vectors[:base n_ads]`, described by `base_info`, a manifest's
    `index` section) with the rows past those added, written to `staging`: what an update that only appends
    ads needs, in the time of the new rows' inserts rather than a rebuild. The rows before must be the very ones
    the base index holds, in the same order (the caller's check)."""
    import faiss

    n_base, n = int(base_info["n_ads"]), vectors.shape[0]
    index = faiss.read_index(str(base_index))
    if index.ntotal != n_base or index.d != vectors.shape[1]:
        raise ValueError(f"{base_index}: holds {index.ntotal} vectors of dimension {index.d}, expected {n_base} of "
                         f"{vectors.shape[1]}")
    t0 = time.perf_counter()
    for i in range(n_base, n, ADD_BLOCK):
        index.add(dequantize(np.asarray(vectors[i:i + ADD_BLOCK]), base_info.get("vectors_scale")))
    log.info("appended %d ads to the %s index of %d in %.1fs (no rebuild)", n - n_base, base_info["factory"], n_base,
             time.perf_counter() - t0)
    _save_index(index, staging)
    return dict(base_info, n_ads=n, file=INDEX_FILE, device_built="cpu")


def _save_index(index, staging: Path) -> None:
    import faiss

    path = staging / INDEX_FILE
    try:
        with open(path, "wb") as f:  # through Python, so a full disk is an OSError, not a faiss RuntimeError
            faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    enospc_for_tests(staging)
