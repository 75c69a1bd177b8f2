"""Shards of scoring work through Ray Data actors, resumable: each shard (a key and its input columns) becomes one
row of a Ray Data dataset, `map_batches` hands it whole to one actor of a pool (`ShardActor` subclasses hold the
model) and the driver writes every finished shard's float32 result under a work directory and records it in a
manifest (`done.json`). A shard's key digests the model and its inputs, so a rerun after a cut-off computes only
the shards not yet recorded, and never reuses a result of other inputs.

Ray is imported inside the functions: it is the `scale` extra's, not the base install's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.files import write_json

DONE_NAME = "done.json"


@dataclass(frozen=True)
class Shard:
    """One unit of work: `key` (the resume key, see `shard_key`) and the actor's inputs, one list per column."""

    key: str
    columns: dict[str, object]


@dataclass
class ShardResults:
    """Every shard's result in the order given, and how many were computed now or found in the manifest."""

    arrays: list[np.ndarray]
    n_computed: int
    n_reused: int
    seconds: float


def shard_key(*parts: object) -> str:
    """Digest of a shard's model, settings and inputs (strings, numbers, lists of them)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


def model_files(model_dir: Path) -> dict[str, bytes]:
    """The files of a saved model directory, to travel to the actors through the object store (workers need
    twinrank installed but no shared filesystem)."""
    return {p.name: p.read_bytes() for p in sorted(Path(model_dir).iterdir()) if p.is_file()}


def files_digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(files.items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


class ShardActor:
    """A Ray Data actor for `map_batches(batch_size=1)`: `compute(row) -> float32 array` per shard row."""

    def __init__(self, files, threads: int) -> None:
        import ray
        import torch

        torch.set_num_threads(threads)
        if isinstance(files, ray.ObjectRef):
            files = ray.get(files)
        self._dir = tempfile.TemporaryDirectory(prefix="twinrank-teacher-")
        for name, data in files.items():
            (Path(self._dir.name) / name).write_bytes(data)
        self.model_dir = Path(self._dir.name)

    def compute(self, row: dict) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        out = [np.ascontiguousarray(self.compute(r), dtype=np.float32) for r in rows]
        return pa.table({"key": [r["key"] for r in rows], "shape": [list(a.shape) for a in out],
                         "values": pa.array([a.tobytes() for a in out], pa.binary())})


def _load_done(work_dir: Path) -> dict:
    path = work_dir / DONE_NAME
    return json.loads(path.read_text())["shards"] if path.exists() else {}


def _save_array(work_dir: Path, key: str, array: np.ndarray) -> str:
    name = f"{key}.npy"
    tmp = work_dir / f".tmp-{os.getpid()}-{name}"
    np.save(tmp, array)
    os.replace(tmp, work_dir / name)
    return name


def map_shards(actor: type[ShardActor], actor_kwargs: dict, shards: list[Shard], work_dir: Path, actors: int,
               threads_per_actor: int, desc: str, progress: bool = True,
               on_shard: Callable[[dict], None] | None = None) -> ShardResults:
    """Each shard's result, computing on Ray only those `work_dir`'s manifest lacks; Ray must be running.

    `actor(**actor_kwargs, threads=threads_per_actor)` builds each of the `actors` actors, each reserving
    `threads_per_actor` CPUs. `on_shard(record)` is called after each shard is written and recorded.
    """
    from tqdm import tqdm

    work_dir.mkdir(parents=True, exist_ok=True)
    done = _load_done(work_dir)
    todo = [s for s in shards if s.key not in done or not (work_dir / done[s.key]["file"]).exists()]
    t0 = time.perf_counter()
    if todo:
        bar = tqdm(total=len(todo), unit="shard", desc=desc, disable=not progress)
        try:
            # closed on any exit, so a job stopped part-way releases its actors (and their CPUs) at once
            with contextlib.closing(_run(actor, actor_kwargs, todo, actors, threads_per_actor, progress)) as results:
                for key, array in results:
                    done[key] = {"file": _save_array(work_dir, key, array), "shape": list(array.shape)}
                    write_json(work_dir / DONE_NAME, {"shards": done})
                    if on_shard is not None:
                        on_shard({"key": key, **done[key]})
                    bar.update(1)
        finally:
            bar.close()
    arrays = [np.load(work_dir / done[s.key]["file"]) for s in shards]
    return ShardResults(arrays, len(todo), len(shards) - len(todo), time.perf_counter() - t0)


def _run(actor: type[ShardActor], actor_kwargs: dict, todo: list[Shard], actors: int, threads_per_actor: int,
         progress: bool) -> Iterator[tuple[str, np.ndarray]]:
    """(key, result) of each shard in `todo`, as the actors finish them."""
    import pyarrow as pa
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = False  # record each shard as soon as it is done
    ctx.enable_progress_bars = progress
    # one block per shard, so that the actor pool spreads shards, not rows of one block, over its actors
    blocks = [pa.Table.from_pylist([{"key": s.key, **s.columns}]) for s in todo]
    ds = ray.data.from_arrow(blocks).map_batches(
        actor, batch_size=1, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=min(actors, len(todo))),
        num_cpus=threads_per_actor, fn_constructor_kwargs={**actor_kwargs, "threads": threads_per_actor})
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        for row in batch.to_pylist():
            yield row["key"], np.frombuffer(row["values"], dtype=np.float32).reshape(row["shape"]).copy()
