"""`twinrank index build --engine ray`: encode the catalog shards on Ray (`ray_encode`), then assemble the
shards into one bundle (ad table, vectors, index) and publish it through the same bundle writer as the
single-process build, so the bundle contract, checks and CURRENT switch are the same.

Assembly streams: the ad table is rewritten in the single-process build's 8192-row groups, the vectors go into
the staging memmap one shard at a time, and the index is trained on a sample and filled shard by shard
(`index_shards`), so the driver's memory is bounded by the index, not by the catalog.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from offline.errors import CatalogError
from offline.export.model_dir import read_model_dir
from offline.export.quantise import quantize_vectors
from offline.publish.bundle_writer import DEFAULT_KEEP, staging_dir
from offline.publish.encode_catalog import open_vectors
from offline.publish.index_build import copy_model_files, manifest_fields, publish_build, write_index
from offline.publish.ray_encode import EncodedShards, EncoderSpec, encode_catalog_ray
from service.bundle import VECTORS_FILE, read_current

log = logging.getLogger(__name__)
TABLE_BLOCK = 8192  # the single-process build's block size: the same Parquet row groups


def default_work_dir(bundles_root: Path, digest: str) -> Path:
    """Beside the versions (a hidden name the bundle writer's pruning and cleanup never touch)."""
    return Path(bundles_root) / f".encode-{digest}"


def check_unique_ids(enc: EncodedShards) -> None:
    """ad_id unique across shards (8 bytes per ad in memory; the duplicate is named from a second pass)."""
    import pyarrow.parquet as pq

    hashes = [np.fromiter((hash(a) for a in pq.read_table(enc.work_dir / s["ads"], columns=["ad_id"])
                           .column("ad_id").to_pylist()), dtype=np.int64) for s in enc.shards]
    allh = np.concatenate(hashes)
    order = np.argsort(allh, kind="stable")
    if not np.any(allh[order][1:] == allh[order][:-1]):
        return
    seen: dict[str, str] = {}
    for s in enc.shards:
        for a in pq.read_table(enc.work_dir / s["ads"], columns=["ad_id"]).column("ad_id").to_pylist():
            if a in seen:
                raise CatalogError(f"{s['uri']}: column 'ad_id': duplicate id {a!r} (also in {seen[a]})")
            seen[a] = s["uri"]


def assemble(enc: EncodedShards, staging: Path, ads_name: str, vectors_dtype: str, dim: int):
    """The bundle's ad table and vectors memmap from the shards, row i ↔ vector i, in catalog order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = open_vectors(staging / VECTORS_FILE, enc.n_ads, dim, vectors_dtype)
    writer = None
    pending: list = []
    pending_rows = 0
    row = 0

    def write(tables: list) -> None:
        nonlocal writer
        t = pa.concat_tables(tables).combine_chunks()
        writer = writer or pq.ParquetWriter(staging / ads_name, t.schema)
        writer.write_table(t)

    try:
        for s in enc.shards:
            if s["dim"] != dim:
                raise CatalogError(f"{s['uri']}: encoded at dim {s['dim']}, the model has {dim} (stale work dir?)")
            v = np.load(enc.work_dir / s["vectors"])
            vectors[row:row + len(v)] = quantize_vectors(v) if vectors.dtype == np.int8 else v
            row += len(v)
            table = pq.read_table(enc.work_dir / s["ads"])
            off = 0
            while off < table.num_rows:
                take = min(TABLE_BLOCK - pending_rows, table.num_rows - off)
                pending.append(table.slice(off, take))
                pending_rows += take
                off += take
                if pending_rows == TABLE_BLOCK:
                    write(pending)
                    pending, pending_rows = [], 0
        if pending:
            write(pending)
    finally:
        if writer is not None:
            writer.close()
    vectors.flush()
    return vectors


def build_bundle_ray(model_dir: str | Path, catalog: str, bundles_root: str | Path, factory: str | None = None,
                     vectors_dtype: str = "float32", device: str = "auto", keep: int = DEFAULT_KEEP,
                     actors: int = 1, threads_per_actor: int = 1, batch_size: int = 64,
                     work_dir: str | Path | None = None, keep_work: bool = False, progress: bool = True,
                     force: bool = False) -> Path:
    """Encode `catalog` (shards) on the running Ray cluster, index it, publish a new bundle version; like
    `index_build.build_bundle`, it replaces the CURRENT it started from (`PublishConflict` if that moved)."""
    model_dir, bundles_root = Path(model_dir), Path(bundles_root)
    parent = read_current(bundles_root)
    info = read_model_dir(model_dir)
    spec = EncoderSpec.of_model_dir(info)
    work = Path(work_dir) if work_dir else default_work_dir(bundles_root, spec.digest)
    enc = encode_catalog_ray(model_dir, info, catalog, work, actors, threads_per_actor, batch_size,
                             progress=progress)
    log.info("encoded %d ads on Ray in %.1fs (%d reused from %s)", enc.n_encoded_now, enc.seconds, enc.n_reused,
             work)
    check_unique_ids(enc)
    with staging_dir(bundles_root) as staging:
        copy_model_files(model_dir, info, staging)
        vectors = assemble(enc, staging, "ads.parquet", vectors_dtype, info["dim"])
        index_info = write_index(staging, vectors, factory, vectors_dtype, device)
        del vectors
        version = publish_build(staging, manifest_fields(info, index_info), bundles_root, parent, force, keep)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return version
