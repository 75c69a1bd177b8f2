"""Figures recomputed from a report's `predictions.parquet` (no retraining): the unseen-query ROC-AUC, with the
QADSM splits read by path for the texts the file does not keep."""

from __future__ import annotations

import numpy as np

from offline.data.qadsm import read_split
from offline.errors import DataError
from offline.evaluation.predictions_file import read_predictions
from offline.evaluation.unseen_queries import unseen_query_metrics, unseen_rows


def unseen_from_predictions(predictions_path, data_dir, bootstrap: int = 1000) -> dict:
    """The unseen-query figures of a report's `predictions.parquet`, with the QADSM splits read by path (the file
    keeps no texts). The test labels must match the file's row for row."""
    p = read_predictions(predictions_path)
    test = read_split(data_dir, "test")
    y = p.labels["test"]
    if len(test.label) != len(y) or not np.array_equal(np.asarray(test.label, dtype=int), y):
        raise DataError(f"{predictions_path}: its {len(y)} test labels are not those of {data_dir}/test.txt "
                        f"({len(test.label)} rows): another split file?", predictions_path, reason="mismatch")
    seen = set(read_split(data_dir, "train").query) | set(read_split(data_dir, "dev").query)
    _, group = np.unique(np.asarray(test.query, dtype=object), return_inverse=True)
    return unseen_query_metrics({n: s["test"] for n, s in p.scores.items()}, y, group,
                                unseen_rows(test.query, seen), bootstrap)
