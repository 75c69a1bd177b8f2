import numpy as np
from sklearn.metrics import accuracy_score, ndcg_score

from offline.evaluation.ranking_metrics import (
    best_threshold,
    bootstrap_auc_ci,
    ece,
    gain_kept,
    label_density,
    ndcg_at_k,
)


def test_best_threshold_maximises_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = y + rng.normal(0, 0.8, 300)
    thr = best_threshold(y, s)
    best = max(accuracy_score(y, s >= t) for t in np.unique(s))
    assert accuracy_score(y, s >= thr) == best


def test_ndcg_matches_sklearn_on_queries_with_both_labels():
    rng = np.random.default_rng(1)
    queries, ys, ss = [], [], []
    for q in range(20):
        n = rng.integers(2, 8)
        queries += [f"q{q}"] * n
        ys.append(rng.integers(0, 2, n))
        ss.append(rng.normal(size=n))
    y, s = np.concatenate(ys), np.concatenate(ss)
    ref = [ndcg_score([yy], [sc], k=5) for yy, sc in zip(ys, ss, strict=True) if 0 < yy.sum() < len(yy)]
    assert abs(ndcg_at_k(y, s, queries, 5) - np.mean(ref)) < 1e-9


def test_ece_of_perfectly_calibrated_bins_is_small_and_of_overconfident_is_large():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=20000) < p).astype(int)
    assert ece(y, p) < 0.02
    assert ece(y, np.clip(p * 0 + 0.99, 0, 1)) > 0.4


def test_bootstrap_interval_contains_point_estimate():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = y + rng.normal(0, 1, 500)
    from sklearn.metrics import roc_auc_score

    lo, hi = bootstrap_auc_ci(y, s, 200)
    assert lo < roc_auc_score(y, s) < hi


def test_label_density_and_gain_kept():
    y = np.array([1, 0, 0, 1])
    s = np.array([0.9, 0.1, 0.8, 0.2])
    assert label_density(y, s, ["a", "a", "b", "b"], 1) == 0.5
    assert abs(gain_kept(0.85, 0.80, 0.90) - 0.5) < 1e-12
    assert gain_kept(0.85, 0.80, 0.80) is None
