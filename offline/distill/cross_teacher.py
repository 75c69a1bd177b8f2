"""Fine-tune the cross-encoder teacher on labelled pairs, and score any pairs with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from models.cross_encoder import CrossEncoder
from models.losses import hard_bce
from offline.data.qadsm import Pairs, pair_ad_texts
from offline.distill.config import Precision
from offline.distill.training import fit

CROSS_BATCH = 64


def pair_length_order(queries: list[str], ads: list[str]) -> np.ndarray:
    """The order `cross_logits` batches pairs in: by query + ad length, ties in input order (the Ray score
    stage's shards are cut from it at batch boundaries)."""
    return np.argsort([len(q) + len(a) for q, a in zip(queries, ads, strict=True)], kind="stable")


@torch.no_grad()
def cross_logits(model: CrossEncoder, queries: list[str], ads: list[str], batch_size: int = CROSS_BATCH,
                 progress: bool = True) -> np.ndarray:
    """The cross-encoder's logit for every (query, ad) pair, in input order."""
    model.eval()
    order = pair_length_order(queries, ads)
    out = np.zeros(len(queries), dtype=np.float32)
    for s in tqdm(range(0, len(order), batch_size), desc="cross-encoder scoring", unit="batch", leave=False,
                  disable=not progress):
        idx = order[s : s + batch_size]
        out[idx] = model.score([queries[i] for i in idx], [ads[i] for i in idx]).float().numpy()
    return out


def train_cross(run, stage_dir: Path) -> dict:
    c = run.config
    stage_dir.mkdir(parents=True, exist_ok=True)
    train, dev = run.split("train"), run.split("dev")
    model = CrossEncoder.from_base(c.base, c.teacher.cross_max_len)
    for p in model.encoder.embeddings.word_embeddings.parameters():
        p.requires_grad_(False)
    hist = _train(model, train, dev, stage_dir, c.teacher.cross_epochs, c.teacher.cross_lr, c.teacher.batch_size,
                  c.seed, c.teacher.precision)
    model.save(stage_dir / "model")
    return hist


def _train(model: CrossEncoder, train: Pairs, dev: Pairs, stage_dir: Path, epochs: int, lr: float, batch_size: int,
           seed: int, precision: Precision) -> dict:
    ads, dev_ads = pair_ad_texts(train), pair_ad_texts(dev)
    label = torch.from_numpy(train.label.astype(np.float32))

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        return hard_bce(model.score([train.query[i] for i in idx], [ads[i] for i in idx]), label[idx])

    def dev_metric() -> tuple[float, str]:
        auc = float(roc_auc_score(dev.label, cross_logits(model, dev.query, dev_ads)))
        return auc, f"dev ROC-AUC {auc:.4f}"

    hist = fit(model, stage_dir, n_items=len(train), batch_size=batch_size, epochs=epochs, lr=lr, seed=seed,
               batch_loss=batch_loss, dev_metric=dev_metric, desc="cross epoch", precision=precision)
    return {**hist, "dev_auc": hist["dev_best"]}
