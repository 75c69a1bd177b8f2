"""The comparison models: the same student trained on labels only (`labels` stage), CDSSM trained on the
teacher's scores (`cdssm` stage) and character n-gram TF-IDF (scored in the evaluate stage)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.cdssm import CDSSM
from models.losses import DistillationLoss
from models.text import fold_umlauts
from offline.data.pool import char_tfidf
from offline.data.qadsm import frame_ad_texts
from offline.distill.training import fit

if TYPE_CHECKING:
    from offline.distill.run import Run


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
    loss_fn = DistillationLoss(soft_weight=1.0, mse_weight=0.0, hard_weight=0.5, align_weight=0.0)

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


def labels_stage(run: Run, stage_dir: Path) -> dict:
    """The same student (4-layer query tower, 12-layer ad tower frozen at its initialisation, projections and
    heads trained) initialised from the base encoder and trained on labels only. Its pooled ad states are the
    base encoder's mean-pooled states, which the zero-shot baseline reuses."""
    from models.twinbert import TwinBERT
    from offline.data.qadsm import pair_ad_texts
    from offline.distill.encode import TextVectors, encode_pooled
    from offline.distill.student import (
        CachedPairs,
        freeze_ad_encoder,
        init_projection_pca,
        student_config,
        train_query_tower,
    )

    c = run.config
    probe = TwinBERT.from_base(student_config(c.student, c.base, "", "", "student_labels"))
    splits = {s: run.split(s) for s in ("train", "dev", "test")}
    cache = stage_dir / "base_ads"
    if cache.with_suffix(".npy").exists():  # encoding is the slow part: a rerun of this stage keeps it
        av = TextVectors.load(cache)
    else:
        av = encode_pooled(probe, "ad", [a for p in splits.values() for a in pair_ad_texts(p)], label="base")
        av.save(cache)
    freeze_ad_encoder(probe)

    def cached(p) -> CachedPairs:
        import numpy as np

        return CachedPairs(p.query, av.rows(pair_ad_texts(p)), np.full(len(p), np.nan), p.label)

    init_projection_pca(probe, av.vectors[cached(splits["train"]).ad_row])
    hist = train_query_tower(probe, cached(splits["train"]), cached(splits["dev"]), av.vectors, None,
                             DistillationLoss(soft_weight=0, mse_weight=0, hard_weight=1, align_weight=0),
                             c.baselines.labels_epochs, c.baselines.labels_lr, c.student.queries_per_batch,
                             stage_dir, c.seed)
    probe.save(stage_dir / "student_labels")
    return hist


def labels_both_stage(run: Run, stage_dir: Path) -> dict:
    """The labels-only student of the served query depth whose query *and* ad towers train on labels (separate
    towers from the base encoder, the teacher's recipe: hard-label BCE on both heads, best epoch on dev), the
    strongest labels-only model of the same serving cost: the ad tower runs offline, so any ad tower is fair."""
    from models.twinbert import TwinBERT, TwinBERTConfig
    from offline.distill.teacher import train_on_labels

    c, b = run.config, run.config.baselines
    model = TwinBERT.from_base(TwinBERTConfig(
        base=c.base, query_layers=c.student.query_layers, ad_layers=c.student.ad_layers, shared=False,
        proj_dim=b.labels_both_proj_dim, query_max_len=c.student.query_max_len, ad_max_len=c.student.ad_max_len,
        recipe={"role": "student_labels_both"}))
    hist = train_on_labels(model, run.split("train"), run.split("dev"), stage_dir, b.labels_both_epochs,
                           b.labels_both_lr, c.teacher.batch_size, c.seed)
    model.save(stage_dir / "student_labels_both")
    return hist


def cdssm_stage(run: Run, stage_dir: Path) -> dict:
    """CDSSM on the teacher's scores (`cdssm.pt`)."""
    from offline.distill.scoring import read_score_outputs

    table, _, _ = read_score_outputs(run)
    model, hist = train_cdssm(table, stage_dir, run.config.baselines.cdssm_epochs, run.config.baselines.cdssm_lr,
                              run.config.seed)
    torch.save(model.state_dict(), stage_dir / "cdssm.pt")
    return hist
