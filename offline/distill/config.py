"""The distillation run's configuration: one pydantic model, read from a TOML file (configs/*.toml).

Stage fingerprints hash these values (`fingerprint`), so renaming a field or changing a default redoes the
stages it feeds. The loss sections are `models.losses.DistillationLoss` and the pool section
`offline.data.pool.PoolConfig`, each declared there once, beside the code it drives."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.losses import DistillationLoss
from offline.data.pool import PoolConfig

Precision = Literal["fp32", "bf16"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeacherConfig(_Strict):
    # No "cross" alone: the student's ad features and alignment targets are the bi-encoder's pooled vectors, so a
    # cross-encoder teaches only beside it ("ensemble").
    kind: Literal["bi", "ensemble"] = Field("bi", description="bi: the bi-encoder; ensemble: bi-encoder and "
                                            "cross-encoder, the teacher chosen on dev among them and their mean")
    epochs: int = Field(2, ge=1)
    lr: float = Field(4e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    inbatch_weight: float = Field(0.0, ge=0, description="weight of the in-batch InfoNCE term (bi-encoder)")
    head_lr_factor: float = Field(1.0, gt=0, description="crossing heads' learning rate / the encoder's")
    cross_epochs: int = Field(2, ge=1)
    cross_lr: float = Field(3e-5, gt=0)
    cross_max_len: int = Field(96, ge=8)
    precision: Precision = Field("fp32", description="bf16 autocast for teacher training and scoring")


class StudentConfig(_Strict):
    query_layers: int | list[int] = 4
    ad_layers: int | list[int] = 12
    proj_dim: int | None = 128
    query_max_len: int = 32
    ad_max_len: int = 64
    distill_epochs: int = Field(8, ge=1)
    distill_lr: float = Field(1e-4, gt=0)
    queries_per_batch: int = Field(64, ge=1)
    loss: DistillationLoss = DistillationLoss()
    finetune_epochs: int = Field(2, ge=0)
    finetune_lr: float = Field(2e-5, gt=0)
    finetune_loss: DistillationLoss = DistillationLoss(soft_weight=0.5, mse_weight=0.0, hard_weight=1.0,
                                                       align_weight=0.5)


class BaselineConfig(_Strict):
    labels_epochs: int = Field(12, ge=1)
    labels_lr: float = Field(1e-4, gt=0)
    cdssm_epochs: int = Field(6, ge=1)
    cdssm_lr: float = Field(2e-3, gt=0)
    # The labels-only student with both towers trained (the teacher's recipe at the student's depths).
    labels_both_epochs: int = Field(2, ge=1)
    labels_both_lr: float = Field(4e-5, gt=0)
    labels_both_proj_dim: int | None = Field(None, description="None: the pooled states, as the teacher scores")


class EvalConfig(_Strict):
    bootstrap: int = Field(1000, ge=10)
    ndcg_k: int = Field(5, ge=1)
    density_top: list[int] = [1, 3]


class RunConfig(_Strict):
    base: str = "multilingual-e5-small"
    seed: int = 13
    threads: int | None = None
    train_limit: int | None = Field(None, description="rows per split, for smoke runs")
    test_limit: int | None = None
    teacher: TeacherConfig = TeacherConfig()
    pool: PoolConfig = PoolConfig()
    student: StudentConfig = StudentConfig()
    baselines: BaselineConfig = BaselineConfig()
    eval: EvalConfig = EvalConfig()

    @classmethod
    def from_file(cls, path: str | Path | None) -> RunConfig:
        if path is None:
            return cls()
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        with path.open("rb") as fh:
            return cls.model_validate(tomllib.load(fh))


def fingerprint(*parts: object) -> str:
    """Stable hash of config parts; a stage is redone when its fingerprint changes."""
    blob = json.dumps([p.model_dump() if isinstance(p, BaseModel) else p for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
