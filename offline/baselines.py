"""Comparison models that need no TwinBERT: CDSSM trained on the teacher's scores, character n-gram TF-IDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from models.cdssm import CDSSM
from models.losses import DistillationLoss
from models.text import ad_text
from offline.pool import char_tfidf, fold
from offline.training import EpochCheckpoints, optimiser


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
    q, a = list(train["query"]), [ad_text(t, d) for t, d in zip(train.title, train.description, strict=True)]
    dq, da = list(dev["query"]), [ad_text(t, d) for t, d in zip(dev.title, dev.description, strict=True)]
    t_logit = torch.from_numpy(train.teacher_logit.to_numpy().astype(np.float32))
    label = torch.from_numpy(train.label.to_numpy().astype(np.float32))
    loss_fn = DistillationLoss(soft_weight=1.0, hard_weight=0.5)
    steps = (len(q) + batch - 1) // batch
    opt, sched = optimiser(model, lr, steps * epochs, warmup=0.02)
    ckpt = EpochCheckpoints(stage_dir)
    prog = ckpt.resume(model, opt, sched)
    for epoch in range(prog["epoch"] + 1, epochs + 1):
        model.train()
        order = np.random.default_rng(seed + epoch).permutation(len(q))
        for step in tqdm(range(steps), desc=f"cdssm epoch {epoch}/{epochs}", unit="step"):
            idx = order[step * batch : (step + 1) * batch]
            logit = model([q[i] for i in idx], [a[i] for i in idx])
            r = torch.from_numpy(idx)
            loss = loss_fn(logit, t_logit[r], label[r])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        auc = float(roc_auc_score(dev.label, cdssm_logits(model, dq, da)))
        tqdm.write(f"cdssm epoch {epoch}: dev ROC-AUC {auc:.4f}")
        ckpt.end_epoch(epoch, auc, model, opt, sched)
    ckpt.load_best(model)
    prog = ckpt.progress()
    ckpt.cleanup()
    return model, {"dev_history": prog.get("history", []), "best_epoch": prog.get("best_epoch")}


def tfidf_scores(fit_texts: list[str], queries: list[str], ads: list[str]) -> np.ndarray:
    """Cosine of character 3–5-gram TF-IDF vectors (umlauts folded, as the queries spell them out)."""
    vec = char_tfidf(fit_texts)
    qm = vec.transform([fold(x) for x in queries])
    am = vec.transform([fold(x) for x in ads])
    return np.asarray(qm.multiply(am).sum(axis=1)).ravel()
