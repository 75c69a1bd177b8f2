"""Train a TwinBERT student's query tower (plus projections and heads) against cached ad features.

The ad tower is frozen at its initialisation (the teacher's 12 layers for the distilled student, the base
encoder's for the labels-only student), so its pooled ad states are computed once and each step costs
only a short query encoding. The same loop serves distillation (teacher logits), label fine-tuning and the
labels-only baseline; what differs is the data and the loss weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.losses import DistillationLoss, cosine_alignment
from models.twinbert import TwinBERT, TwinBERTConfig
from offline.config import LossConfig, StudentConfig
from offline.encode import encode_texts, unique_index
from offline.teacher_cache import TextVectors, logits_from_pooled
from offline.training import fit


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
    q_pooled = encode_texts(model.query_tower, model.tokenizer("query"), uq, pooled=True, desc="queries")
    return logits_from_pooled(model, q_pooled[qi], ad_pooled[ad_rows])


def train_query_tower(model: TwinBERT, train: CachedPairs, dev: CachedPairs, ad_pooled: np.ndarray,
                      teacher_queries: TextVectors | None, loss_cfg: LossConfig, epochs: int, lr: float,
                      queries_per_batch: int, stage_dir: Path, seed: int) -> dict:
    """Epochs over the distinct training queries, each step taking all pairs of a batch of queries.
    Keeps the epoch with the best dev ROC-AUC (max over heads)."""
    loss_fn = DistillationLoss(**loss_cfg.model_dump())
    queries, qi = unique_index(train.query)
    by_query = _group(qi, len(queries))
    tok = model.tokenizer("query")
    feats = torch.from_numpy(ad_pooled)
    t_logit = torch.from_numpy(train.teacher_logit.astype(np.float32))
    label = torch.from_numpy(train.label.astype(np.float32))
    has_teacher = not np.isnan(train.teacher_logit).any()
    t_query = (torch.from_numpy(teacher_queries.vectors[teacher_queries.rows(queries)])
               if teacher_queries is not None and loss_cfg.align_weight else None)

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
            loss = loss + loss_cfg.align_weight * cosine_alignment(pooled, t_query[torch.from_numpy(batch)])
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
