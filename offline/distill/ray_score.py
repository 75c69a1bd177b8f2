"""The `score` stage's teacher passes on Ray (`twinrank distill --engine ray`): the bi-encoder's pooled states
of every distinct text, and the cross-encoder's logit of every pair, by Ray Data actors that each hold the
teacher (`ray_shards`). The bi-encoder's own logits stay on the driver: dot products of the cached vectors.

Shards are cut from the very order the single-process path batches in (`length_order`, `pair_length_order`), at
batch boundaries, and each actor batches its shard the same way: every batch holds the same rows, padded the
same, as in one process, so both engines write the same `pairs.parquet` and teacher vectors. The engine is
therefore not part of the stage's fingerprint: a run may switch engines and resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline.distill.config import Precision
from offline.distill.cross_teacher import CROSS_BATCH, pair_length_order
from offline.distill.encode import ENCODE_BATCH, TextVectors, length_order
from offline.distill.ray_shards import Shard, ShardActor, files_digest, map_shards, model_files, shard_key

BATCHES_PER_SHARD = 16  # 2048 texts or 1024 pairs: minutes of a 12-layer teacher, so a cut-off loses little


@dataclass(frozen=True)
class RayScoring:
    """How the score stage runs on Ray: the cluster (`None`: a local Ray on this machine), the actor pool and
    its threads (CPUs reserved) per actor. `on_shard(record)` is called after each finished shard."""

    address: str | None = None
    actors: int = 1
    threads_per_actor: int = 1
    batches_per_shard: int = BATCHES_PER_SHARD
    progress: bool = True
    on_shard: Callable[[dict], None] | None = None

    def start(self) -> None:
        from offline.ray_cluster import check_cpus, start_ray

        start_ray(self.address)
        check_cpus(self.actors, self.threads_per_actor, spare=0, what="the teacher actors")


class BiTeacherActor(ShardActor):
    """The bi-encoder teacher; a shard is (route, texts) → pooled states, one row per text."""

    def __init__(self, files, threads: int, precision: Precision) -> None:
        super().__init__(files, threads)
        from models.twinbert import TwinBERT

        self.model, self.precision = TwinBERT.load(self.model_dir), precision

    def compute(self, row: dict) -> np.ndarray:
        from offline.distill.encode import torch_encode
        from offline.distill.training import autocast

        route = row["route"]
        with autocast(self.precision):
            return torch_encode(self.model.tower(route), self.model.tokenizer(route), row["texts"], ENCODE_BATCH,
                                pooled=True)


class CrossTeacherActor(ShardActor):
    """The cross-encoder teacher; a shard is (queries, ads) → one logit per pair."""

    def __init__(self, files, threads: int, precision: Precision) -> None:
        super().__init__(files, threads)
        from models.cross_encoder import CrossEncoder

        self.model, self.precision = CrossEncoder.load(self.model_dir), precision

    def compute(self, row: dict) -> np.ndarray:
        from offline.distill.cross_teacher import cross_logits
        from offline.distill.training import autocast

        with autocast(self.precision):
            return cross_logits(self.model, row["queries"], row["ads"], CROSS_BATCH, progress=False)


def _cuts(order: np.ndarray, size: int) -> list[np.ndarray]:
    return [order[s:s + size] for s in range(0, len(order), size)]


def encode_pooled_ray(model_dir: Path, texts: dict[str, list[str]], precision: Precision, work_dir: Path,
                      engine: RayScoring) -> tuple[dict[str, TextVectors], dict]:
    """`encode_pooled` of each route's distinct texts (`texts`: route → texts), on Ray. Returns the vectors per
    route and the shard counts."""
    import ray

    files = model_files(model_dir)
    digest = files_digest(files)
    unique = {route: list(dict.fromkeys(t)) for route, t in texts.items()}
    cuts, shards = [], []
    for route, u in unique.items():
        for idx in _cuts(length_order(u), ENCODE_BATCH * engine.batches_per_shard):
            chunk = [u[i] for i in idx]
            cuts.append((route, idx))
            shards.append(Shard(shard_key("bi", digest, precision, ENCODE_BATCH, route, chunk),
                                {"route": route, "texts": chunk}))
    result = map_shards(BiTeacherActor, {"files": ray.put(files), "precision": precision}, shards, work_dir,
                        engine.actors, engine.threads_per_actor, "teacher text shards", engine.progress,
                        engine.on_shard)
    dim = result.arrays[0].shape[1] if result.arrays else 0
    vectors = {route: np.zeros((len(u), dim), dtype=np.float32) for route, u in unique.items()}
    for (route, idx), array in zip(cuts, result.arrays, strict=True):
        vectors[route][idx] = array
    return ({route: TextVectors(u, vectors[route]) for route, u in unique.items()},
            {"shards_computed": result.n_computed, "shards_reused": result.n_reused})


def cross_logits_ray(model_dir: Path, pairs: dict[str, tuple[Sequence[str], Sequence[str]]], precision: Precision,
                     work_dir: Path, engine: RayScoring) -> tuple[dict[str, np.ndarray], dict]:
    """`cross_logits` of each named set of (queries, ads), on Ray. Returns the logits per name and the shard
    counts."""
    import ray

    files = model_files(model_dir)
    digest = files_digest(files)
    cuts, shards = [], []
    for name, (queries, ads) in pairs.items():
        for idx in _cuts(pair_length_order(list(queries), list(ads)), CROSS_BATCH * engine.batches_per_shard):
            qs, as_ = [queries[i] for i in idx], [ads[i] for i in idx]
            cuts.append((name, idx))
            shards.append(Shard(shard_key("cross", digest, precision, CROSS_BATCH, qs, as_),
                                {"queries": qs, "ads": as_}))
    result = map_shards(CrossTeacherActor, {"files": ray.put(files), "precision": precision}, shards, work_dir,
                        engine.actors, engine.threads_per_actor, "cross-encoder pair shards", engine.progress,
                        engine.on_shard)
    logits = {name: np.zeros(len(q), dtype=np.float32) for name, (q, _) in pairs.items()}
    for (name, idx), array in zip(cuts, result.arrays, strict=True):
        logits[name][idx] = array
    return logits, {"shards_computed": result.n_computed, "shards_reused": result.n_reused}
