"""`predictions.parquet`: every reported model's score of each dev and test pair, keyed by row number, so the
report's metrics can be recomputed without retraining (and without the texts, which are never stored).

Columns: `split` ("dev"/"test"), `row` (0-based row of that split's file), `label` (1 = Good), `query_group`
(the same number for the same query within a split), then one column per model (float32 or float64, as the
model scored). The calibration and the labels-only student's head ride along as JSON in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from offline.evaluation.evaluate import Predictions

FILE_NAME = "predictions.parquet"
_META_KEY = b"twinrank"
_FIXED = ("split", "row", "label", "query_group")


def write_predictions(p: Predictions, path: Path, queries: dict[str, list[str]]) -> Path:
    """Write `p` (with each split's queries, turned into group numbers) atomically to `path`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    splits = list(p.labels)
    columns: dict[str, object] = {
        "split": [s for s in splits for _ in range(len(p.labels[s]))],
        "row": np.concatenate([np.arange(len(p.labels[s])) for s in splits]),
        "label": np.concatenate([np.asarray(p.labels[s], dtype=np.int8) for s in splits]),
        "query_group": np.concatenate([_groups(queries[s]) for s in splits]),
    }
    for name, s in p.scores.items():  # each model's own dtype, so thresholds recompute bit for bit
        columns[name] = np.concatenate([np.asarray(s[split]) for split in splits])
    table = pa.table(columns)
    meta = {"calibration": p.calibration, "labels_head": p.labels_head}
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _groups(queries: list[str]) -> np.ndarray:
    number = {q: i for i, q in enumerate(dict.fromkeys(queries))}
    return np.array([number[q] for q in queries], dtype=np.int64)


def read_predictions(path: Path) -> Predictions:
    """The `Predictions` a file holds; test queries come back as their group numbers (enough for nDCG)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {})[_META_KEY])
    frame = table.to_pandas()
    parts = {s: frame[frame.split == s].sort_values("row") for s in ("dev", "test")}
    models = [c for c in frame.columns if c not in _FIXED]
    return Predictions(
        scores={m: {s: f[m].to_numpy() for s, f in parts.items()} for m in models},
        labels={s: f.label.to_numpy().astype(int) for s, f in parts.items()},
        test_queries=[f"q{g}" for g in parts["test"].query_group],
        calibration=meta["calibration"], labels_head=meta["labels_head"],
    )
