"""The `calibrate` stage: Platt scaling of the served head's logit on dev, written as the run's
`calibration.json` (the bundle manifest's calibration schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from offline.distill.scoring import read_score_outputs
from offline.distill.student import student_kd_logits

if TYPE_CHECKING:
    from offline.distill.run import Run


def calibrate_stage(run: Run, stage_dir: Path) -> dict:
    """Platt scaling of the served head's logit, fitted on dev: relevance = sigmoid(a·logit + b). The served
    head is the one with the better dev ROC-AUC (`res` on ties: it rescores the retrieved candidates)."""
    table, _, av = read_score_outputs(run)
    dev = table[table.split == "dev"]
    logits = student_kd_logits(run, dev, av)
    y = dev.label.to_numpy()
    aucs = {h: float(roc_auc_score(y, v)) for h, v in logits.items()}
    head = "res" if aucs["res"] >= aucs["cos"] - 1e-4 else "cos"
    lr = LogisticRegression(C=1e4).fit(logits[head].reshape(-1, 1), y)
    cal = {"head": head, "kind": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    tmp = run.out / "calibration.json.tmp"
    tmp.write_text(json.dumps(cal, indent=2))  # the bundle's calibration schema: exactly these keys
    tmp.replace(run.out / "calibration.json")
    p = 1 / (1 + np.exp(-(cal["a"] * logits[head] + cal["b"])))
    return {**cal, "fitted_on": "dev", "dev_roc_auc": aucs, "dev_mean_p": float(p.mean())}
