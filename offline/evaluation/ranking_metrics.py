"""Ranking and calibration metrics: plain functions over numpy arrays, checked against sklearn in tests."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def bootstrap_auc_ci(y: np.ndarray, s: np.ndarray, n: int = 1000, seed: int = 0, alpha: float = 0.05):
    """Percentile bootstrap interval of ROC-AUC over rows."""
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        aucs.append(roc_auc_score(y[idx], s[idx]))
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def best_threshold(y: np.ndarray, s: np.ndarray) -> float:
    """The score threshold that maximises accuracy (chosen on dev, applied to test)."""
    order = np.argsort(-s)
    ys, ss = y[order], s[order]
    # predict positive for the top k: accuracy = (TP + TN) / n
    tp = np.concatenate([[0], np.cumsum(ys)])
    k = np.arange(len(ys) + 1)
    acc = (tp + (len(ys) - ys.sum()) - (k - tp)) / len(ys)
    best = int(np.argmax(acc))
    if best == 0:
        return float(ss[0] + 1e-6)
    if best == len(ss):
        return float(ss[-1] - 1e-6)
    return float((ss[best - 1] + ss[best]) / 2)


def groups(queries: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        out[q].append(i)
    return {q: np.asarray(v) for q, v in out.items()}


def ndcg_at_k(y: np.ndarray, s: np.ndarray, queries: list[str], k: int = 5) -> float:
    """Mean nDCG@k over queries that have both labels (binary gains)."""
    vals = []
    for idx in groups(queries).values():
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        order = np.argsort(-s[idx], kind="stable")[:k]
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (yy[order] * disc[: len(order)]).sum()
        ideal = (np.sort(yy)[::-1][:k] * disc[: min(k, len(yy))]).sum()
        vals.append(dcg / ideal)
    return float(np.mean(vals)) if vals else float("nan")


def label_density(y: np.ndarray, s: np.ndarray, queries: list[str], top: int) -> float:
    """Share of Good labels among each query's top-`top` ads by score, over queries with at least `top` ads."""
    vals = [y[idx][np.argsort(-s[idx], kind="stable")[:top]].mean()
            for idx in groups(queries).values() if len(idx) >= top]
    return float(np.mean(vals)) if vals else float("nan")


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with equal-width probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(total)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 15) -> dict[str, list[float]]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    conf, acc, count = [], [], []
    for b in range(bins):
        m = which == b
        if m.any():
            conf.append(float(p[m].mean()))
            acc.append(float(y[m].mean()))
            count.append(int(m.sum()))
    return {"confidence": conf, "accuracy": acc, "count": count}


def model_metrics(y_dev: np.ndarray, s_dev: np.ndarray, y: np.ndarray, s: np.ndarray, queries: list[str],
                  bootstrap: int, ndcg_k: int, density_top: list[int]) -> dict:
    thr = best_threshold(y_dev, s_dev)
    fpr, tpr, _ = roc_curve(y, s)
    step = max(1, len(fpr) // 400)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "roc_auc_ci": list(bootstrap_auc_ci(y, s, bootstrap)),
        "pr_auc": float(average_precision_score(y, s)),
        "accuracy": float(((s >= thr).astype(int) == y).mean()),
        "threshold_from_dev": thr,
        "dev_roc_auc": float(roc_auc_score(y_dev, s_dev)),
        f"ndcg_at_{ndcg_k}": ndcg_at_k(y, s, queries, ndcg_k),
        "label_density": {f"top{t}": label_density(y, s, queries, t) for t in density_top},
        "_roc": {"fpr": fpr[::step].tolist(), "tpr": tpr[::step].tolist()},
    }


def gain_kept(auc_kd: float, auc_labels: float, auc_teacher: float) -> float | None:
    """Share of the teacher's AUC gain over the labels-only student that the distilled student keeps; None when
    the teacher has no gain to keep (it is no better than the labels-only student)."""
    if auc_teacher - auc_labels <= 1e-9:
        return None
    return float((auc_kd - auc_labels) / (auc_teacher - auc_labels))
