"""Generalisation to queries never seen in training: every model's ROC-AUC on the test rows whose query occurs in
neither the train nor the dev split (833 rows, 507 queries on German QADSM), beside the full split.

The interval is a bootstrap over *queries* (a query's rows rise and fall together, so resampling rows would
understate the spread of a subset this small), and the gap to the full split says how much of a model's figure
rests on queries it has seen.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from offline.evaluation.ranking_metrics import gain_kept


def unseen_rows(test_queries: list[str], seen: set[str]) -> np.ndarray:
    """Boolean mask of the test rows whose query is not in `seen` (the train and dev queries)."""
    return np.fromiter((q not in seen for q in test_queries), dtype=bool, count=len(test_queries))


def query_bootstrap_auc_ci(y: np.ndarray, s: np.ndarray, group: np.ndarray, n: int = 1000, seed: int = 0,
                           alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC-AUC, resampling whole query groups."""
    rng = np.random.default_rng(seed)
    ids, inverse = np.unique(group, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(len(ids))]
    aucs = []
    for _ in range(n):
        idx = np.concatenate([rows_of[i] for i in rng.integers(0, len(ids), len(ids))])
        if y[idx].min() != y[idx].max():
            aucs.append(roc_auc_score(y[idx], s[idx]))
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def unseen_query_metrics(scores: dict[str, np.ndarray], y: np.ndarray, group: np.ndarray, mask: np.ndarray,
                         bootstrap: int = 1000, baseline: str = "student_labels") -> dict:
    """Per model (test scores in `scores`): ROC-AUC on the full split and on the unseen-query rows (`mask`), with
    the latter's query-bootstrap 95 % interval; the gain kept is against the labels-only `baseline`."""
    if mask.sum() == 0 or y[mask].min() == y[mask].max():
        raise ValueError(f"the unseen-query subset has {int(mask.sum())} rows and needs both labels")
    models = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        full, sub = float(roc_auc_score(y, s)), float(roc_auc_score(y[mask], s[mask]))
        lo, hi = query_bootstrap_auc_ci(y[mask], s[mask], group[mask], bootstrap)
        models[name] = {"roc_auc_full": full, "roc_auc_unseen": sub, "unseen_ci95": [lo, hi], "gap": sub - full}
    out = {"rows": int(mask.sum()), "queries": int(len(np.unique(group[mask]))), "rows_full": int(len(y)),
           "good_share_unseen": float(y[mask].mean()), "good_share_full": float(y.mean()),
           "interval": "95 % percentile bootstrap over queries", "models": models}
    trio = ("student_kd", baseline, "teacher")
    if set(trio) <= set(models):
        out["gain_kept_baseline"] = baseline
        out["gain_kept_unseen"] = gain_kept(*(models[n]["roc_auc_unseen"] for n in trio))
        out["gain_kept_full"] = gain_kept(*(models[n]["roc_auc_full"] for n in trio))
    return out


def unseen_markdown(m: dict, title: str = "Queries never seen in training") -> str:
    lines = [f"## {title}", "",
             f"{m['rows']} of the {m['rows_full']} test rows ({m['queries']} queries) have a query that occurs in "
             f"neither train nor dev; Good share {m['good_share_unseen']:.3f} there, {m['good_share_full']:.3f} "
             f"in the full split. Interval: {m['interval']}.", "",
             "| model | ROC-AUC full split | ROC-AUC unseen queries (95 % CI) | unseen − full |",
             "| --- | ---: | ---: | ---: |"]
    for name, r in sorted(m["models"].items(), key=lambda kv: -kv[1]["roc_auc_unseen"]):
        lo, hi = r["unseen_ci95"]
        lines.append(f"| {name} | {r['roc_auc_full']:.4f} | {r['roc_auc_unseen']:.4f} ({lo:.4f}–{hi:.4f}) | "
                     f"{r['gap']:+.4f} |")
    if m.get("gain_kept_unseen") is not None and m.get("gain_kept_full") is not None:
        lines += ["", f"Gain kept (student_kd against {m.get('gain_kept_baseline', 'student_labels')} and the "
                  f"teacher): {m['gain_kept_unseen']:.1%} "
                  f"on unseen queries, {m['gain_kept_full']:.1%} on the full split."]
    return "\n".join(lines) + "\n"

