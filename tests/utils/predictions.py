"""A small synthetic `predictions.parquet` (the distillation report's format) for the auction replay's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offline.evaluation.evaluate import Predictions
from offline.evaluation.predictions_file import write_predictions

# Model → how far Good and Bad scores are apart (in noise units): the teacher separates best.
SEPARATION = {"teacher": 2.0, "student_kd": 1.8, "student_labels": 1.2, "cdssm": 0.9, "tfidf": 0.6}


def synthetic_predictions(n_queries: int = 60, seed: int = 0) -> tuple[Predictions, dict[str, list[str]]]:
    """Dev and test splits of `n_queries` queries each with 1–8 candidate ads, half of them Good."""
    rng = np.random.default_rng(seed)
    labels, queries, scores = {}, {}, {m: {} for m in SEPARATION}
    for split in ("dev", "test"):
        sizes = rng.integers(1, 9, n_queries)
        queries[split] = [f"{split}-q{i}" for i, k in enumerate(sizes) for _ in range(k)]
        y = rng.integers(0, 2, int(sizes.sum()))
        labels[split] = y
        for m, sep in SEPARATION.items():
            scores[m][split] = (sep * (y - 0.5) + rng.normal(0, 1, len(y))).astype(np.float32)
    cal = {"head": "res", "kind": "platt", "a": 1.1, "b": -0.05}
    p = Predictions(scores, labels, queries["test"], cal, "res")
    return p, queries


def write_synthetic_predictions(path: Path, n_queries: int = 60, seed: int = 0, metadata: bool = True) -> Path:
    """The file `write_predictions` writes; without `metadata`, as a run that lost it (no calibration)."""
    p, queries = synthetic_predictions(n_queries, seed)
    write_predictions(p, path, queries)
    if not metadata:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        pq.write_table(table.replace_schema_metadata({}), path)
    return path
