"""The committed distillation report is recomputable without retraining: every model's ROC-AUC, its CI,
accuracy and the share of the teacher's gain kept follow from `reports/qadsm-de/predictions.parquet` with a few
lines of sklearn and the report's own bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from offline.evaluation.ranking_metrics import bootstrap_auc_ci, gain_kept

REPORT = Path(__file__).resolve().parents[3] / "reports" / "qadsm-de"


@pytest.fixture(scope="module")
def reported() -> tuple[pd.DataFrame, dict, dict]:
    frame = pd.read_parquet(REPORT / "predictions.parquet")
    return frame, json.loads((REPORT / "metrics.json").read_text()), json.loads((REPORT / "config.json").read_text())


def test_every_reported_model_is_recomputed_from_the_predictions(reported) -> None:
    frame, metrics, config = reported
    test = frame[frame.split == "test"].sort_values("row")
    assert len(test) == metrics["rows"] == 10_000 and test.row.tolist() == list(range(10_000))
    y = test.label.to_numpy()
    for name, m in metrics["models"].items():
        s = test[name].to_numpy()
        assert roc_auc_score(y, s) == pytest.approx(m["roc_auc"], abs=1e-12), name
        assert float(((s >= m["threshold_from_dev"]).astype(int) == y).mean()) == pytest.approx(m["accuracy"]), name
    # gain kept against the labels-only baseline with the best dev ROC-AUC, and against each of them
    baselines = [n for n in ("student_labels", "student_labels_both") if n in metrics["models"]]
    strongest = max(baselines, key=lambda n: metrics["models"][n]["dev_roc_auc"])
    assert metrics["gain_kept_baseline"] == strongest
    kd, teacher = (metrics["models"][n]["roc_auc"] for n in ("student_kd", "teacher"))
    for name in baselines:
        labels = metrics["models"][name]["roc_auc"]
        assert gain_kept(kd, labels, teacher) == pytest.approx(metrics["gain_kept_vs"][name], abs=1e-12), name
    assert metrics["gain_kept"] == metrics["gain_kept_vs"][strongest]


def test_confidence_intervals_and_dev_figures_are_recomputed(reported) -> None:
    frame, metrics, config = reported
    test, dev = (frame[frame.split == s].sort_values("row") for s in ("test", "dev"))
    for name in ("teacher", "student_kd", "student_labels"):
        m = metrics["models"][name]
        lo, hi = bootstrap_auc_ci(test.label.to_numpy(), test[name].to_numpy(), config["eval"]["bootstrap"])
        assert (lo, hi) == pytest.approx(tuple(m["roc_auc_ci"]), abs=1e-12), name
        assert roc_auc_score(dev.label, dev[name]) == pytest.approx(m["dev_roc_auc"], abs=1e-12), name
    assert not np.isnan(frame.drop(columns=["split"]).to_numpy(dtype=float)).any()
