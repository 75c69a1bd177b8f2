"""Train a TwinBERT student's query tower (plus projections and heads) against cached ad features.

The ad tower is frozen at its initialisation (the teacher's 12 layers for the distilled student, the base
encoder's for the labels-only student), so its pooled ad states are computed once and each step costs
only a short query encoding. The same loop serves distillation (teacher logits), label fine-tuning and the
labels-only baseline; what differs is the data and the loss weights. The `distill` and `finetune` stages
build the served student with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.losses import DistillationLoss, cosine_alignment
from models.twinbert import TwinBERT, TwinBERTConfig
from offline.data.qadsm import frame_ad_texts, unique_index
from offline.distill.config import StudentConfig
from offline.distill.encode import TextVectors, logits_from_pooled, torch_encode
from offline.distill.scoring import read_score_outputs
from offline.distill.teacher import load_bi_teacher
from offline.distill.training import fit

if TYPE_CHECKING:
    import pandas as pd

    from offline.distill.run import Run


@dataclass
class CachedPairs:
    """Pairs as (query text, row in an ad-feature cache, teacher logit or NaN, label or -1)."""

    query: list[str]
    ad_row: np.ndarray
    teacher_logit: np.ndarray
    label: np.ndarray


def student_config(cfg: StudentConfig, base: str, query_prefix: str, ad_prefix: str, role: str) -> TwinBERTConfig:
    return TwinBERTConfig(base=base, query_layers=cfg.query_layers, ad_layers=cfg.ad_layers, proj_dim=cfg.proj_dim,
                          query_max_len=cfg.query_max_len, ad_max_len=cfg.ad_max_len, query_prefix=query_prefix,
                          ad_prefix=ad_prefix, recipe={"role": role})


def freeze_ad_encoder(model: TwinBERT) -> None:
    for p in [*model.ad_tower.encoder.parameters(), *model.ad_tower.pooling.parameters()]:
        p.requires_grad_(False)
    model.query_tower.freeze_embeddings()


@torch.no_grad()
def init_projection_pca(model: TwinBERT, ad_pooled: np.ndarray, target_std: float = 0.1) -> None:
    """Start both projections as the top principal directions of the (unit-norm, uncentred) pooled ad states,
    scaled so tanh starts almost linear. Uncentred and bias-free, because the cosine the teacher scores with
    lives in the raw space: on German QADSM a centred PCA-128 init alone cost the teacher's own vectors
    0.03 test ROC-AUC, an uncentred one 0.009."""
    if model.query_tower.projection is None:
        return
    d = model.query_tower.projection.out_features
    units = ad_pooled / np.linalg.norm(ad_pooled, axis=1, keepdims=True).clip(1e-12)
    _, _, vt = np.linalg.svd(units, full_matrices=False)
    comps = vt[:d]
    scale = target_std / float((ad_pooled @ comps.T).std())
    weight = torch.from_numpy((comps * scale).astype(np.float32))
    for proj in {id(p): p for p in (model.query_tower.projection, model.ad_tower.projection)}.values():
        proj.weight.copy_(weight)
        proj.bias.zero_()


@torch.no_grad()
def cached_logits(model: TwinBERT, queries: list[str], ad_rows: np.ndarray, ad_pooled: np.ndarray) -> dict:
    """Head logits for pairs whose ad features are cached pooled states."""
    model.eval()
    uq, qi = unique_index(queries)
    q_pooled = torch_encode(model.query_tower, model.tokenizer("query"), uq, pooled=True, desc="queries")
    return logits_from_pooled(model, q_pooled[qi], ad_pooled[ad_rows])


def train_query_tower(model: TwinBERT, train: CachedPairs, dev: CachedPairs, ad_pooled: np.ndarray,
                      teacher_queries: TextVectors | None, loss_fn: DistillationLoss, epochs: int, lr: float,
                      queries_per_batch: int, stage_dir: Path, seed: int) -> dict:
    """Epochs over the distinct training queries, each step taking all pairs of a batch of queries.
    Keeps the epoch with the best dev ROC-AUC (max over heads)."""
    queries, qi = unique_index(train.query)
    by_query = _group(qi, len(queries))
    tok = model.tokenizer("query")
    feats = torch.from_numpy(ad_pooled)
    t_logit = torch.from_numpy(train.teacher_logit.astype(np.float32))
    label = torch.from_numpy(train.label.astype(np.float32))
    has_teacher = not np.isnan(train.teacher_logit).any()
    t_query = (torch.from_numpy(teacher_queries.vectors[teacher_queries.rows(queries)])
               if teacher_queries is not None and loss_fn.align_weight else None)

    def batch_loss(batch: np.ndarray) -> torch.Tensor:
        pooled = model.query_tower.pooled(**tok([queries[i] for i in batch]))
        q = model.query_tower.project(pooled)
        rows = np.concatenate([by_query[i] for i in batch])
        local = torch.from_numpy(np.concatenate([np.full(len(by_query[i]), j) for j, i in enumerate(batch)]))
        a = model.ad_tower.project(feats[torch.from_numpy(train.ad_row[rows])])
        r = torch.from_numpy(rows)
        loss = pooled.new_zeros(())
        for logit in model.heads(q[local], a).values():
            loss = loss + loss_fn(logit, t_logit[r] if has_teacher else None, label[r])
        if t_query is not None:
            loss = loss + loss_fn.align_weight * cosine_alignment(pooled, t_query[torch.from_numpy(batch)])
        return loss

    def dev_metric() -> tuple[float, str]:
        logits = cached_logits(model, dev.query, dev.ad_row, ad_pooled)
        aucs = {k: float(roc_auc_score(dev.label, v)) for k, v in logits.items()}
        return max(aucs.values()), f"dev ROC-AUC cos={aucs['cos']:.4f} res={aucs['res']:.4f}"

    return fit(model, stage_dir, n_items=len(queries), batch_size=queries_per_batch, epochs=epochs, lr=lr,
               seed=seed, batch_loss=batch_loss, dev_metric=dev_metric)


def _group(qi: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(qi, kind="stable")
    bounds = np.searchsorted(qi[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def cached_pairs(table: pd.DataFrame, ads: TextVectors) -> CachedPairs:
    """Rows of a score-stage pairs table as `CachedPairs` over the ad-feature cache `ads`."""
    return CachedPairs(list(table["query"]), ads.rows(frame_ad_texts(table)), table.teacher_logit.to_numpy(),
                       table.label.to_numpy())


def student_kd_logits(run: Run, table: pd.DataFrame, ads: TextVectors) -> dict[str, np.ndarray]:
    """Every head's logits of the run's served student (`student_kd/`) for the rows of a pairs table."""
    model = TwinBERT.load(run.out / "student_kd")
    rows = cached_pairs(table, ads)
    return cached_logits(model, rows.query, rows.ad_row, ads.vectors)


def distill_stage(run: Run, stage_dir: Path) -> dict:
    """Student = the teacher's first query layers (query tower) and all its layers frozen (ad tower), trained
    on the teacher's scores of labelled + pool pairs, with the query tower's pooled state aligned to the
    teacher's."""
    c = run.config
    teacher = load_bi_teacher(run)
    table, qv, av = read_score_outputs(run)
    cfg = student_config(c.student, c.base, teacher.config.query_prefix, teacher.config.ad_prefix, "student_kd")
    cfg.recipe.update({"teacher": "bi-encoder 12L", "distill": c.student.loss.model_dump()})
    student = TwinBERT.from_encoder(cfg, teacher.query_tower.encoder, teacher.tokenizer_dir)
    for tower in (student.query_tower, student.ad_tower):
        tower.pooling.load_state_dict(teacher.query_tower.pooling.state_dict())
    freeze_ad_encoder(student)
    train_rows = table[table.split.isin(["train", "pool"])]
    init_projection_pca(student, av.vectors[cached_pairs(train_rows, av).ad_row])
    dev = cached_pairs(table[table.split == "dev"], av)
    hist = train_query_tower(student, cached_pairs(train_rows, av), dev, av.vectors, qv, c.student.loss,
                             c.student.distill_epochs, c.student.distill_lr, c.student.queries_per_batch, stage_dir,
                             c.seed)
    student.save(stage_dir / "student")
    return hist


def finetune_stage(run: Run, stage_dir: Path) -> dict:
    """The distilled student fine-tuned on the labelled pairs; saved as the run's served `student_kd/`."""
    import shutil

    c = run.config
    table, qv, av = read_score_outputs(run)
    student = TwinBERT.load(run.out / "distill" / "student")
    freeze_ad_encoder(student)
    hist = {}
    if c.student.finetune_epochs:
        hist = train_query_tower(student, cached_pairs(table[table.split == "train"], av),
                                 cached_pairs(table[table.split == "dev"], av), av.vectors, qv, c.student.finetune_loss,
                                 c.student.finetune_epochs, c.student.finetune_lr, c.student.queries_per_batch,
                                 stage_dir, c.seed)
    student.config.recipe["finetune"] = c.student.finetune_loss.model_dump()
    tmp = run.out / ".student_kd.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    student.save(tmp)
    shutil.rmtree(run.out / "student_kd", ignore_errors=True)
    tmp.rename(run.out / "student_kd")
    return hist
