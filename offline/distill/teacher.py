"""The `teacher` stage: the bi-encoder (a TwinBERT, both towers the full base encoder, fine-tuned on labelled
pairs with hard-label BCE on both heads) and/or the cross-encoder (`cross_teacher`), each kept once trained."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.losses import hard_bce
from models.twinbert import TwinBERT, TwinBERTConfig
from offline.data.qadsm import Pairs, pair_ad_texts
from offline.distill.config import Precision
from offline.distill.encode import score_pairs_heads
from offline.distill.training import fit

if TYPE_CHECKING:
    from offline.distill.run import Run


def dev_auc(model: TwinBERT, dev: Pairs) -> dict[str, float]:
    return {h: float(roc_auc_score(dev.label, s)) for h, s in score_pairs_heads(model, dev).items()}


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


def teacher_stage(run: Run, stage_dir: Path) -> dict:
    """Fine-tune the bi-encoder and/or the cross-encoder. Each sub-teacher is kept once trained (with its
    `info.json`), so a stage cut off while training the second one does not retrain the first."""
    c = run.config
    info: dict = {}
    if c.teacher.kind in ("bi", "ensemble"):
        info["bi"] = _trained_once(stage_dir / "bi", lambda: _train_bi(run, stage_dir))
    if c.teacher.kind == "ensemble":
        from offline.distill.cross_teacher import train_cross

        info["cross"] = _trained_once(stage_dir / "cross", lambda: train_cross(run, stage_dir / "cross"))
    return info


def _trained_once(model_dir: Path, train: Callable[[], dict]) -> dict:
    done = model_dir / "info.json"
    if done.exists():
        return json.loads(done.read_text())
    info = train()
    done.write_text(json.dumps(info, indent=2))
    return info


def _train_bi(run: Run, stage_dir: Path) -> dict:
    c = run.config
    model = TwinBERT.from_base(TwinBERTConfig(base=c.base, query_layers=-1, ad_layers=-1, shared=True,
                                              proj_dim=None, query_max_len=c.student.query_max_len,
                                              ad_max_len=c.student.ad_max_len,
                                              recipe={"role": "teacher", "kind": "bi-encoder"}))
    hist = train_on_labels(model, run.split("train"), run.split("dev"), stage_dir, c.teacher.epochs,
                           c.teacher.lr, c.teacher.batch_size, c.seed, c.teacher.inbatch_weight,
                           c.teacher.head_lr_factor, c.teacher.precision)
    model.save(stage_dir / "bi")
    return {**hist, "dev_auc": hist["dev_best"]}


def load_bi_teacher(run: Run) -> TwinBERT:
    """The fine-tuned bi-encoder teacher of a run."""
    return TwinBERT.load(run.out / "teacher" / "bi")
