"""Fine-tune a TwinBERT on labelled pairs (hard-label BCE on both heads). Used for the bi-encoder teacher
and for the labels-only student."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.losses import hard_bce
from models.twinbert import TwinBERT
from offline.config import Precision
from offline.encode import pair_ad_texts, score_pairs
from offline.qadsm import Pairs
from offline.training import fit


def dev_auc(model: TwinBERT, dev: Pairs) -> dict[str, float]:
    return {h: float(roc_auc_score(dev.label, score_pairs(model, dev, h))) for h in ("cos", "res")}


def in_batch_contrastive(q: torch.Tensor, a: torch.Tensor, label: torch.Tensor, queries: list[str],
                         temperature: float = 0.05) -> torch.Tensor:
    """InfoNCE for each Good pair: its ad against every other ad in the batch (the e5 pretraining objective),
    which gives many negatives per step for free. Ads labelled Good for the same query are not negatives."""
    pos = torch.nonzero(label > 0.5).squeeze(-1)
    if len(pos) == 0:
        return q.new_zeros(())
    sim = (q[pos] @ a.T) / temperature
    same = torch.tensor([[queries[i] == queries[j] and label[j] > 0.5 and i != j for j in range(len(queries))]
                         for i in pos.tolist()])
    sim = sim.masked_fill(same, torch.finfo(sim.dtype).min)
    return torch.nn.functional.cross_entropy(sim, pos)


def train_on_labels(model: TwinBERT, train: Pairs, dev: Pairs, stage_dir: Path, epochs: int, lr: float,
                    batch_size: int, seed: int, inbatch_weight: float = 0.0, head_lr_factor: float = 1.0,
                    precision: Precision = "fp32") -> dict:
    """Train, keep the epoch with the best dev ROC-AUC (max over heads); returns the dev history."""
    for tower in {id(t): t for t in (model.query_tower, model.ad_tower)}.values():
        tower.freeze_embeddings()
    q_tok, a_tok = model.tokenizer("query"), model.tokenizer("ad")
    ads = pair_ad_texts(train)
    label = torch.from_numpy(train.label.astype(np.float32))

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        q = model.query_tower(**q_tok([train.query[i] for i in idx]))
        a = model.ad_tower(**a_tok([ads[i] for i in idx]))
        heads = model.heads(q, a)
        y = label[idx]
        loss = hard_bce(heads["cos"], y) + hard_bce(heads["res"], y)
        if inbatch_weight:
            loss = loss + inbatch_weight * in_batch_contrastive(q, a, y, [train.query[i] for i in idx])
        return loss

    def dev_metric() -> tuple[float, str]:
        aucs = dev_auc(model, dev)
        return max(aucs.values()), f"dev ROC-AUC cos={aucs['cos']:.4f} res={aucs['res']:.4f}"

    return fit(model, stage_dir, n_items=len(train), batch_size=batch_size, epochs=epochs, lr=lr, seed=seed,
               batch_loss=batch_loss, dev_metric=dev_metric, head_lr_factor=head_lr_factor, precision=precision)
