"""Comparison models that need no TwinBERT: CDSSM trained on the teacher's scores, character n-gram TF-IDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.cdssm import CDSSM
from models.losses import DistillationLoss
from models.text import fold_umlauts
from offline.encode import frame_ad_texts
from offline.pool import char_tfidf
from offline.training import fit


@torch.no_grad()
def cdssm_logits(model: CDSSM, queries: list[str], ads: list[str], batch: int = 1024) -> np.ndarray:
    model.eval()
    return np.concatenate([model(queries[s : s + batch], ads[s : s + batch]).numpy()
                           for s in range(0, len(queries), batch)])


def train_cdssm(table, stage_dir: Path, epochs: int, lr: float, seed: int, batch: int = 256) -> tuple[CDSSM, dict]:
    """CDSSM on labelled + pool pairs: soft teacher labels, plus hard labels where known."""
    model = CDSSM()
    train = table[table.split.isin(["train", "pool"])]
    dev = table[table.split == "dev"]
    q, a = list(train["query"]), frame_ad_texts(train)
    dq, da = list(dev["query"]), frame_ad_texts(dev)
    t_logit = torch.from_numpy(train.teacher_logit.to_numpy().astype(np.float32))
    label = torch.from_numpy(train.label.to_numpy().astype(np.float32))
    loss_fn = DistillationLoss(soft_weight=1.0, hard_weight=0.5)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        r = torch.from_numpy(idx)
        return loss_fn(model([q[i] for i in idx], [a[i] for i in idx]), t_logit[r], label[r])

    def dev_metric() -> tuple[float, str]:
        auc = float(roc_auc_score(dev.label, cdssm_logits(model, dq, da)))
        return auc, f"dev ROC-AUC {auc:.4f}"

    hist = fit(model, stage_dir, n_items=len(q), batch_size=batch, epochs=epochs, lr=lr, seed=seed,
               batch_loss=batch_loss, dev_metric=dev_metric, desc="cdssm epoch", clip=None, warmup=0.02)
    return model, hist


def tfidf_scores(fit_texts: list[str], queries: list[str], ads: list[str]) -> np.ndarray:
    """Cosine of character 3–5-gram TF-IDF vectors (umlauts folded, as the queries spell them out)."""
    vec = char_tfidf(fit_texts)
    qm = vec.transform([fold_umlauts(x) for x in queries])
    am = vec.transform([fold_umlauts(x) for x in ads])
    return np.asarray(qm.multiply(am).sum(axis=1)).ravel()
