"""The body of each distillation stage (see offline/pipeline.py for the order and fingerprints)."""

from __future__ import annotations

from pathlib import Path

from models.twinbert import TwinBERT, TwinBERTConfig
from offline.train_twin import train_on_labels


def teacher(run, stage_dir: Path) -> dict:
    c = run.config
    info: dict = {}
    if c.teacher.kind in ("bi", "ensemble"):
        model = TwinBERT.from_base(TwinBERTConfig(base=c.base, query_layers=-1, ad_layers=-1, shared=True,
                                                  proj_dim=None, query_max_len=c.student.query_max_len,
                                                  ad_max_len=c.student.ad_max_len,
                                                  recipe={"role": "teacher", "kind": "bi-encoder"}))
        hist = train_on_labels(model, run.split("train"), run.split("dev"), stage_dir, c.teacher.epochs,
                               c.teacher.lr, c.teacher.batch_size, c.seed)
        model.save(stage_dir / "bi")
        best = hist["dev_history"][[h["epoch"] for h in hist["dev_history"]].index(hist["best_epoch"])]
        info["bi"] = {**hist, "dev_auc": best["dev"]}
    if c.teacher.kind in ("cross", "ensemble"):
        from offline.train_cross import train_cross

        info["cross"] = train_cross(run, stage_dir / "cross")
    return info
