"""Catalog encoding on Ray: Ray Data reads the catalog shards and `map_batches` runs them through actors that
each hold one ONNX Runtime session of the ad tower (the service's `OnnxTower`, so the vectors come from the very
graph and tokenizer the service runs). The driver writes each finished catalog shard as a vectors shard (.npy,
float32) and an ad-table shard (.parquet) under a work directory and records it in a resume manifest keyed by
the encoder's digest: a job cut off part-way encodes only the shards not yet recorded when run again.

The model files travel to the actors through Ray's object store, so workers need twinrank installed but no
shared filesystem. Ray is imported inside the functions: it is the `scale` extra's, not the base install's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.files import write_json
from offline.data.catalog import validated_block
from offline.errors import CatalogError
from offline.publish.catalog_shards import CatalogShard, list_shards
from offline.ray_cluster import check_cpus
from service.bundle import ad_text
from service.bundle.manifest import EncoderFiles

log = logging.getLogger(__name__)
DONE_NAME = "done.json"
ERROR_COLUMN = "catalog_error"
RAY_BATCH = 1024  # rows per map_batches call: large enough that Ray's per-batch cost is small (reports/scale)


@dataclass(frozen=True)
class EncoderSpec:
    """What an actor needs to build the ad tower, and the digest that keys the resume manifest."""

    onnx_name: str
    prefix: str
    max_len: int
    separator: str
    digest: str

    @classmethod
    def of_model_dir(cls, info: dict, int8: bool = False) -> EncoderSpec:
        name = EncoderFiles.model_validate(info["encoders"]["ad"]).file("int8" if int8 else "fp32")
        files = info.get("files", {})
        key = json.dumps({"onnx": files.get(name), "tokenizer": files.get("tokenizer.json"),
                          "prefix": info["ad_prefix"], "max_len": info["ad_max_len"],
                          "separator": info["ad_separator"]}, sort_keys=True)
        return cls(name, info["ad_prefix"], int(info["ad_max_len"]), info["ad_separator"],
                   hashlib.sha256(key.encode()).hexdigest()[:16])


class AdTowerActor:
    """A Ray Data actor: one ONNX Runtime session of the ad tower; pyarrow batch in, batch + `vector` out."""

    def __init__(self, spec: EncoderSpec, onnx_bytes, tokenizer_bytes, threads: int, use_gpu: bool,
                 encode_batch: int) -> None:
        import ray

        from service.runtime.providers import ort_providers
        from service.runtime.towers import OnnxTower

        def value(x):
            return ray.get(x) if isinstance(x, ray.ObjectRef) else x

        self._dir = tempfile.TemporaryDirectory(prefix="twinrank-ad-tower-")
        onnx_path, tok_path = Path(self._dir.name) / spec.onnx_name, Path(self._dir.name) / "tokenizer.json"
        onnx_path.write_bytes(value(onnx_bytes))
        tok_path.write_bytes(value(tokenizer_bytes))
        providers = ort_providers("cuda" if use_gpu else "cpu")
        self.tower = OnnxTower(onnx_path, tok_path, spec.prefix, spec.max_len, threads, providers)
        self.spec = spec
        self.encode_batch = encode_batch

    def __call__(self, batch):
        import pyarrow as pa

        paths = batch.column("path").to_pylist()
        rows = batch.drop_columns(["path"]).to_pylist()
        blocks = []
        start = 0
        for i in range(1, len(paths) + 1):  # a batch may span catalog files: each file's rows checked apart
            if i == len(paths) or paths[i] != paths[start]:
                try:
                    blocks.append(validated_block(rows[start:i], paths[start]))
                except CatalogError as exc:  # Ray keeps only the text of a task's exception: hand it over as data
                    return pa.table({"path": pa.array(paths[start:start + 1], pa.string()), ERROR_COLUMN: [str(exc)]})
                start = i
        table = pa.concat_tables([b.to_arrow() for b in blocks])
        texts = [ad_text(t, d, self.spec.separator) for b in blocks
                 for t, d in zip(b.title, b.description, strict=True)]
        vecs = self.tower.encode_sorted(texts, self.encode_batch)
        flat = pa.array(np.ascontiguousarray(vecs, dtype=np.float32).reshape(-1))
        return table.append_column("path", pa.array(paths, pa.string())).append_column(
            "vector", pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1]))


@dataclass
class EncodedShards:
    """The work directory's finished shards, in catalog order: (uri, vectors .npy, ads .parquet, rows)."""

    work_dir: Path
    shards: list[dict] = field(default_factory=list)
    n_encoded_now: int = 0
    n_reused: int = 0
    seconds: float = 0.0

    @property
    def n_ads(self) -> int:
        return sum(s["n"] for s in self.shards)


def _load_done(work_dir: Path, digest: str) -> dict:
    path = work_dir / DONE_NAME
    if not path.exists():
        return {}
    done = json.loads(path.read_text())
    if done.get("encoder_digest") != digest:
        log.info("%s: encoded with another ad tower (%s); starting over", path, done.get("encoder_digest"))
        return {}
    return done.get("shards", {})


def _save_done(work_dir: Path, digest: str, done: dict) -> None:
    write_json(work_dir / DONE_NAME, {"encoder_digest": digest, "shards": done})


def _shard_key(shard: CatalogShard) -> str:
    return hashlib.sha256(f"{shard.path}\0{shard.size}".encode()).hexdigest()[:16]


def _read(fs, shards: list[CatalogShard]):
    import ray.data

    paths = [s.path for s in shards]
    fmt = shards[0].fmt
    if fmt == "parquet":
        return ray.data.read_parquet(paths, filesystem=fs, include_paths=True,
                                     columns=["ad_id", "title", "description", "bid", "p_click"])
    if fmt == "csv":  # text columns stay text (type inference would turn an id "0042" into 42)
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = {c: pa.string() for c in ("ad_id", "title", "description")}
        return ray.data.read_csv(paths, filesystem=fs, include_paths=True,
                                 convert_options=pacsv.ConvertOptions(column_types=text))
    return ray.data.read_json(paths, filesystem=fs, include_paths=True)  # pyarrow reads JSON Lines


def _batches_by_path(ds) -> Iterator[tuple[str, list]]:
    """(path, [pyarrow tables]) per catalog file, in the order Ray yields them (files arrive whole, in order,
    because the dataset preserves order)."""
    cur, parts, finished = None, [], set()
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        if batch.num_rows == 0:
            continue
        if ERROR_COLUMN in batch.column_names:
            raise CatalogError(batch.column(ERROR_COLUMN)[0].as_py())
        paths = batch.column("path").to_pylist()
        start = 0
        for i in range(1, len(paths) + 1):
            if i == len(paths) or paths[i] != paths[start]:
                p = paths[start]
                if p != cur:
                    if cur is not None:
                        yield cur, parts
                        finished.add(cur)
                    if p in finished:
                        raise RuntimeError(f"{p}: rows arrived out of order (the dataset must preserve order)")
                    cur, parts = p, []
                parts.append(batch.slice(start, i - start))
                start = i
    if cur is not None:
        yield cur, parts


def _write_shard(work_dir: Path, key: str, parts: list) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables(parts)
    vec_col = table.column("vector").combine_chunks()
    dim = vec_col.type.list_size
    vecs = vec_col.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    ads = table.drop_columns(["path", "vector"])
    vec_name, ads_name = f"{key}.vectors.npy", f"{key}.ads.parquet"
    tmp = work_dir / f".tmp-{os.getpid()}-{key}"
    np.save(f"{tmp}.npy", vecs)
    pq.write_table(ads, f"{tmp}.parquet")
    os.replace(f"{tmp}.npy", work_dir / vec_name)
    os.replace(f"{tmp}.parquet", work_dir / ads_name)
    return {"n": int(len(vecs)), "dim": int(dim), "vectors": vec_name, "ads": ads_name}


def encode_catalog_ray(model_dir: Path, info: dict, catalog: str, work_dir: Path, actors: int = 1,
                       threads_per_actor: int = 1, encode_batch: int = 64, ray_batch: int = RAY_BATCH,
                       int8: bool = False, use_gpu: bool | None = None, progress: bool = True,
                       on_shard: Callable[[dict], None] | None = None) -> EncodedShards:
    """Encode every catalog shard not already recorded in `work_dir`'s resume manifest; Ray must be running.

    Returns the finished shards in catalog order (all of them, old and new).
    """
    import ray
    import ray.data
    from tqdm import tqdm

    spec = EncoderSpec.of_model_dir(info, int8)
    fs, shards = list_shards(catalog)
    work_dir.mkdir(parents=True, exist_ok=True)
    done = _load_done(work_dir, spec.digest)
    keys = {s.path: _shard_key(s) for s in shards}
    todo = [s for s in shards if keys[s.path] not in done or not (work_dir / done[keys[s.path]]["vectors"]).exists()]
    result = EncodedShards(work_dir, n_reused=sum(done[keys[s.path]]["n"] for s in shards if s not in todo))
    t0 = time.perf_counter()
    if todo:
        if use_gpu is None:
            use_gpu = _gpus_usable()
        check_cpus(actors, threads_per_actor, spare=1, what="reading the catalog")
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = progress
        onnx_ref = ray.put((model_dir / spec.onnx_name).read_bytes())
        tok_ref = ray.put((model_dir / "tokenizer.json").read_bytes())
        ds = _read(fs, todo).map_batches(
            AdTowerActor, batch_size=ray_batch, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=threads_per_actor, num_gpus=1 if use_gpu else None,
            fn_constructor_kwargs={"spec": spec, "onnx_bytes": onnx_ref, "tokenizer_bytes": tok_ref,
                                   "threads": threads_per_actor, "use_gpu": use_gpu, "encode_batch": encode_batch})
        by_path = {s.path: s for s in todo}
        bar = tqdm(total=len(todo), unit="shard", desc="encoded shards", disable=not progress)
        try:
            for path, parts in _batches_by_path(ds):
                shard = by_path[path]
                rec = _write_shard(work_dir, keys[path], parts)
                done[keys[path]] = rec | {"uri": shard.uri, "size": shard.size}
                _save_done(work_dir, spec.digest, done)
                result.n_encoded_now += rec["n"]
                if on_shard is not None:
                    on_shard(done[keys[path]])
                bar.update(1)
                bar.set_postfix(ads=result.n_encoded_now)
        finally:
            bar.close()
        missing = [s.uri for s in todo if keys[s.path] not in done]
        if missing:
            raise CatalogError(f"{missing[0]}: the catalog shard has no rows")
    result.seconds = time.perf_counter() - t0
    result.shards = [done[keys[s.path]] for s in shards]
    return result


def _gpus_usable() -> bool:
    """GPU actors only when the cluster has GPUs and this onnxruntime build can use them."""
    import onnxruntime as ort
    import ray

    return ray.cluster_resources().get("GPU", 0) > 0 and "CUDAExecutionProvider" in ort.get_available_providers()
