"""Every model's scores turned into the report's metrics with the same code: ROC-AUC (with a bootstrap CI),
PR-AUC, accuracy at the dev threshold, nDCG, label density, calibration error before and after Platt scaling,
and the share of the teacher's gain the distilled student keeps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline.evaluation.ranking_metrics import ece, gain_kept, model_metrics, reliability, sigmoid
from offline.evaluation.unseen_queries import unseen_query_metrics, unseen_rows


@dataclass
class Predictions:
    """Each model's scores (logits or cosines) of the dev and test pairs, and what the metrics need beside them.

    Attributes:
        scores: model name → split ("dev", "test") → (n,) scores, in the pairs' order.
        labels: split → (n,) 0/1 labels.
        test_queries: the query of each test pair (for the per-query ranking metrics).
        calibration: the served head's Platt scaling (`calibration.json`).
        labels_head: the head the labels-only student is scored by (chosen on dev).
        seen_queries: the train and dev queries; when given, the metrics add every model's ROC-AUC on the test
            rows whose query is not among them (`unseen_queries`).
    """

    scores: dict[str, dict[str, np.ndarray]]
    labels: dict[str, np.ndarray]
    test_queries: list[str]
    calibration: dict
    labels_head: str
    seen_queries: frozenset[str] = frozenset()


# The labels-only students of the distilled student's serving cost (same query tower; the ad tower runs offline).
LABELS_BASELINES = ("student_labels", "student_labels_both")


def strongest_baseline(models: dict) -> str:
    """The labels-only baseline with the highest *dev* ROC-AUC (chosen on dev, like everything else)."""
    present = [n for n in LABELS_BASELINES if n in models]
    return max(present, key=lambda n: models[n]["dev_roc_auc"])


def gains_kept(models: dict, auc: str = "roc_auc") -> dict[str, float | None]:
    """The distilled student's gain kept against each labels-only baseline, on `auc`."""
    return {n: gain_kept(models["student_kd"][auc], models[n][auc], models["teacher"][auc])
            for n in LABELS_BASELINES if n in models}


def evaluate_predictions(p: Predictions, bootstrap: int, ndcg_k: int, density_top: list[int]) -> dict:
    """The report's metrics (`metrics.json`) of every model in `p`, on test, with thresholds from dev."""
    y_dev, y_test = p.labels["dev"], p.labels["test"]
    models = {name: model_metrics(y_dev, s["dev"], y_test, s["test"], p.test_queries, bootstrap, ndcg_k,
                                  density_top) for name, s in p.scores.items()}
    cal = p.calibration
    raw = p.scores["student_kd"]["test"]
    p_before, p_after = sigmoid(raw), sigmoid(cal["a"] * raw + cal["b"])
    baseline = strongest_baseline(models)
    vs = gains_kept(models)
    out = {
        "split": "test",
        "rows": int(len(y_test)),
        "models": models,
        "gain_kept": vs[baseline],
        "gain_kept_baseline": baseline,
        "gain_kept_vs": vs,
        "kd_over_teacher_auc": models["student_kd"]["roc_auc"] / models["teacher"]["roc_auc"],
        "ece": {"before": ece(y_test, p_before), "after": ece(y_test, p_after)},
        "reliability": {"before": reliability(y_test, p_before), "after": reliability(y_test, p_after)},
        "calibration": cal,
        "student_labels_head": p.labels_head,
    }
    if p.seen_queries:
        _, group = np.unique(np.asarray(p.test_queries, dtype=object), return_inverse=True)
        out["test_unseen_queries"] = unseen_query_metrics({n: s["test"] for n, s in p.scores.items()}, y_test,
                                                          group, unseen_rows(p.test_queries, set(p.seen_queries)),
                                                          bootstrap, baseline)
    return out
