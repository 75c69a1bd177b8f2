"""Figures recomputed from a report's `predictions.parquet` (no retraining): the unseen-query ROC-AUC, with the
QADSM splits read by path for the texts the file does not keep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from offline.data.qadsm import read_split
from offline.errors import DataError
from offline.evaluation.evaluate import LABELS_BASELINES, Predictions, strongest_baseline
from offline.evaluation.predictions_file import read_predictions
from offline.evaluation.unseen_queries import unseen_query_metrics, unseen_rows


def unseen_from_predictions(predictions_path, data_dir, bootstrap: int = 1000) -> dict:
    """The unseen-query figures of a report's `predictions.parquet`, with the QADSM splits read by path (the file
    keeps no texts). The dev and test labels must match the file's row for row."""
    p, _ = with_texts(read_predictions(predictions_path), data_dir)
    y = p.labels["test"]
    _, group = np.unique(np.asarray(p.test_queries, dtype=object), return_inverse=True)
    dev = {n: {"dev_roc_auc": float(roc_auc_score(p.labels["dev"], p.scores[n]["dev"]))}
           for n in LABELS_BASELINES if n in p.scores}
    return unseen_query_metrics({n: s["test"] for n, s in p.scores.items()}, y, group,
                                unseen_rows(p.test_queries, set(p.seen_queries)), bootstrap,
                                strongest_baseline(dev) if dev else "student_labels")


def with_texts(p: Predictions, data_dir) -> tuple[Predictions, dict[str, list[str]]]:
    """`p` (read from a predictions file) with the test queries' texts and the train and dev queries, read by path
    from the QADSM directory it was made from (so the unseen-query section is recomputed too); and each split's
    queries. Each split's labels must match the file's row for row."""
    splits = {s: read_split(data_dir, s) for s in ("train", "dev", "test")}
    for name in ("dev", "test"):
        y, rows = p.labels[name], splits[name].label
        if len(rows) != len(y) or not np.array_equal(np.asarray(rows, dtype=int), y):
            raise DataError(f"the predictions' {len(y)} {name} labels are not those of {data_dir}/{name}.txt "
                            f"({len(rows)} rows): another split file?", data_dir, reason="mismatch")
    p.test_queries = list(splits["test"].query)
    p.seen_queries = frozenset(splits["train"].query) | frozenset(splits["dev"].query)
    return p, {s: list(splits[s].query) for s in ("dev", "test")}


def rewrite_report(report_dir: Path, data_dir, added: dict[str, dict[str, np.ndarray]] | None = None) -> dict:
    """Recompute a distillation report (`metrics.json`, `report.md`, plots) from its `predictions.parquet`, after
    adding the scores in `added` (model name → split → scores) to that file; the run's facts that predictions do
    not hold (stage times, machine, the teacher chosen) are kept from the old `metrics.json`."""
    from offline.evaluation.evaluate import evaluate_predictions
    from offline.evaluation.predictions_file import FILE_NAME, write_predictions
    from offline.evaluation.report import write_report_files

    path = report_dir / FILE_NAME
    p, queries = with_texts(read_predictions(path), data_dir)
    for name, by_split in (added or {}).items():
        for split in ("dev", "test"):
            if len(by_split[split]) != len(p.labels[split]):
                raise DataError(f"{name}: {len(by_split[split])} {split} scores for {len(p.labels[split])} rows",
                                path, reason="mismatch")
        p.scores[name] = by_split
    old = json.loads((report_dir / "metrics.json").read_text())
    config = json.loads((report_dir / "config.json").read_text())
    e = config["eval"]
    metrics = evaluate_predictions(p, e["bootstrap"], e["ndcg_k"], e["density_top"])
    facts = {"stage_seconds": old.get("stage_seconds", {}), "machine": old.get("machine", {}),
             "teacher_chosen": old.get("teacher_chosen", config["teacher"]["kind"]),
             "run_name": old.get("run_name", "de-ens")}
    if added:
        write_predictions(p, path, queries)
    return write_report_files(metrics, report_dir, facts)
