"""`predictions.parquet`: every reported model's score of each dev and test pair, keyed by row number, so the
report's metrics can be recomputed without retraining (and without the texts, which are never stored).

Columns: `split` ("dev"/"test"), `row` (0-based row of that split's file), `label` (1 = Good), `query_group`
(the same number for the same query within a split), then one float64 column per model. The calibration and
the labels-only student's head ride along as JSON in the file's metadata.
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

    columns: dict[str, list] = {name: [] for name in (*_FIXED, *p.scores)}
    for split, labels in p.labels.items():
        groups = {q: i for i, q in enumerate(dict.fromkeys(queries[split]))}
        n = len(labels)
        columns["split"] += [split] * n
        columns["row"] += list(range(n))
        columns["label"] += np.asarray(labels, dtype=np.int8).tolist()
        columns["query_group"] += [groups[q] for q in queries[split]]
        for name, s in p.scores.items():
            columns[name] += np.asarray(s[split], dtype=np.float64).tolist()
    table = pa.table(columns)
    meta = {"calibration": p.calibration, "labels_head": p.labels_head}
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


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
