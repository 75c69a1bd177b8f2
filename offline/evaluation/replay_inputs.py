"""What an auction replay runs on: labelled candidate ads grouped by query, each model's calibrated relevance of
every candidate, and each candidate's bid and pClick (from the file, or drawn from a stated, seeded distribution).

Two inputs:
- `predictions.parquet` of a distillation report (`predictions_file.py`): the queries are one split's
  `query_group`s (test by default), the candidates their rows. Scores are logits or cosines, so each model's
  become a probability by Platt scaling fitted on its dev rows; the served student (`student_kd`) uses the
  calibration in the file's metadata when the file has it.
- a pairs file (CSV, TSV, JSONL or Parquet) with `query`, `label` (1/0 or Good/Bad) and one or more relevance
  columns (`relevance`, or `relevance_<model>`: probabilities in [0, 1]), optionally `bid` and `p_click`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from offline.errors import DataError


@dataclass(frozen=True)
class Draws:
    """The distribution bids and pClicks are drawn from where the file has none: bid ~ LogNormal(mu, sigma)
    (EUR per click, median e^mu), pClick ~ Beta(a, b) (mean a / (a + b)), one draw per candidate row from
    `numpy.random.default_rng(seed)`, the same for every model."""

    seed: int = 0
    bid_mu: float = 0.0
    bid_sigma: float = 0.5
    click_a: float = 3.0
    click_b: float = 97.0

    def __post_init__(self) -> None:
        if self.bid_sigma < 0 or self.click_a <= 0 or self.click_b <= 0:
            raise ValueError(f"draws need bid sigma >= 0 and click a, b > 0 (got sigma {self.bid_sigma}, "
                             f"a {self.click_a}, b {self.click_b})")

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(bid, p_click) of `n` rows; the same seed gives the same arrays."""
        rng = np.random.default_rng(self.seed)
        bid = rng.lognormal(self.bid_mu, self.bid_sigma, n)
        p_click = rng.beta(self.click_a, self.click_b, n)
        return bid, p_click

    def describe(self) -> str:
        mean_click = self.click_a / (self.click_a + self.click_b)
        return (f"bid ~ LogNormal(mu={self.bid_mu}, sigma={self.bid_sigma}) (median {np.exp(self.bid_mu):.2f}), "
                f"pClick ~ Beta({self.click_a}, {self.click_b}) (mean {mean_click:.3f}), seed {self.seed}, "
                "independent of the label")


@dataclass
class ReplayData:
    """Candidates of all queries, rows grouped by query (`queries[i]` = row positions of query i)."""

    label: np.ndarray  # (n,) int 0/1, 1 = Good
    bid: np.ndarray  # (n,) float64
    p_click: np.ndarray  # (n,) float64
    relevance: dict[str, np.ndarray]  # model → (n,) calibrated relevance in [0, 1]
    queries: list[np.ndarray]  # int64 positions of each query's candidates
    source: dict = field(default_factory=dict)  # what was read and how: file, split, calibration, bids, clicks


def group_positions(keys: np.ndarray) -> list[np.ndarray]:
    """Row positions of each distinct key, in order of first appearance."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)  # group numbers in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    g = rank[inverse]
    by = np.argsort(g, kind="stable")
    return np.split(by.astype(np.int64), np.flatnonzero(np.diff(g[by])) + 1)


def platt(dev_scores: np.ndarray, dev_labels: np.ndarray) -> tuple[float, float]:
    """(a, b) of relevance = sigmoid(a·score + b), fitted on dev as the distill `calibrate` stage does."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(dev_labels)) < 2:
        raise ValueError("Platt scaling needs dev rows of both labels")
    lr = LogisticRegression(C=1e4).fit(np.asarray(dev_scores, dtype=np.float64).reshape(-1, 1), dev_labels)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def read_prediction_file(path: Path, draws: Draws, split: str = "test", models: list[str] | None = None,
                         ) -> ReplayData:
    """The replay data of `split` in a `predictions.parquet` (see the module docstring)."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, its IO errors OSErrors
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})", path) from exc
    frame = table.to_pandas()
    missing = [c for c in ("split", "row", "label", "query_group") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (a predictions.parquet has split, row, "
                        "label, query_group and one column per model)", path)
    raw_meta = (table.schema.metadata or {}).get(b"twinrank")
    served = json.loads(raw_meta).get("calibration") if raw_meta else None
    all_models = [c for c in frame.columns if c not in ("split", "row", "label", "query_group")]
    chosen = all_models if models is None else models
    unknown = [m for m in chosen if m not in all_models]
    if unknown:
        raise DataError(f"{path}: no model column {', '.join(unknown)} (has {', '.join(all_models)})", path)
    dev = frame[frame.split == "dev"]
    part = frame[frame.split == split].sort_values("row")
    if part.empty:
        raise DataError(f"{path}: no rows of split {split!r}", path)
    y = part.label.to_numpy().astype(int)
    relevance, calibration = {}, {}
    for m in chosen:
        s = part[m].to_numpy().astype(np.float64)
        if m == "student_kd" and served and served.get("kind") == "platt":
            a, b = float(served["a"]), float(served["b"])
            calibration[m] = {"a": a, "b": b, "from": f"the served calibration in the file's metadata "
                              f"(head {served.get('head')})"}
        else:
            if dev.empty:
                raise DataError(f"{path}: no dev rows to fit the Platt scaling of {m} on", path)
            a, b = platt(dev[m].to_numpy(), dev.label.to_numpy().astype(int))
            calibration[m] = {"a": a, "b": b, "from": f"Platt scaling fitted on the {len(dev)} dev rows"}
        relevance[m] = _sigmoid(a * s + b)
    bid, p_click = draws.draw(len(part))
    queries = group_positions(part.query_group.to_numpy())
    source = {"input": str(path), "kind": "predictions", "split": split, "rows": int(len(part)),
              "queries": len(queries), "calibration": calibration, "bid": "drawn", "p_click": "drawn",
              "draws": draws.describe()}
    return ReplayData(y, bid, p_click, relevance, queries, source)


_READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}


def read_pairs_file(path: Path, draws: Draws) -> ReplayData:
    """The replay data of a pairs file (see the module docstring); errors name the row and column."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown pairs file type {path.suffix!r} (use .csv, .tsv, .jsonl or .parquet)", path)
    try:
        frame = {"csv": lambda: pd.read_csv(path), "tsv": lambda: pd.read_csv(path, sep="\t"),
                 "jsonl": lambda: pd.read_json(path, lines=True), "parquet": lambda: pd.read_parquet(path)}[kind]()
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise DataError(f"{path}: not readable as {kind}: {str(exc).splitlines()[0] if str(exc) else exc}",
                        path) from exc
    rel_cols = [c for c in frame.columns if c == "relevance" or str(c).startswith("relevance_")]
    for need, present in (("query", "query" in frame.columns), ("label", "label" in frame.columns),
                          ("relevance or relevance_<model>", bool(rel_cols))):
        if not present:
            raise DataError(f"{path}: missing column {need} (has {', '.join(map(str, frame.columns))})", path)
    label = _labels(frame["label"], path)
    relevance = {("relevance" if c == "relevance" else c.removeprefix("relevance_")): _column(frame, c, path, 0, 1)
                 for c in rel_cols}
    drawn_bid, drawn_click = draws.draw(len(frame))
    bid = _column(frame, "bid", path, 0, np.inf) if "bid" in frame.columns else drawn_bid
    p_click = _column(frame, "p_click", path, 0, 1) if "p_click" in frame.columns else drawn_click
    queries = group_positions(frame["query"].astype(str).to_numpy())
    source = {"input": str(path), "kind": "pairs", "rows": int(len(frame)), "queries": len(queries),
              "calibration": {m: {"from": "the file's relevance column (taken as calibrated)"} for m in relevance},
              "bid": "file" if "bid" in frame.columns else "drawn",
              "p_click": "file" if "p_click" in frame.columns else "drawn"}
    if "drawn" in (source["bid"], source["p_click"]):
        source["draws"] = draws.describe()
    return ReplayData(label, np.asarray(bid, np.float64), np.asarray(p_click, np.float64), relevance, queries,
                      source)


def _labels(col, path: Path) -> np.ndarray:
    names = {"good": 1, "bad": 0, "1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0}
    out = np.empty(len(col), dtype=int)
    for i, v in enumerate(col.tolist()):
        key = str(v).strip().lower()
        if key not in names:
            raise DataError(f"{path} row {i + 1}: label {v!r} is not 1/0 or Good/Bad", path, i + 1)
        out[i] = names[key]
    return out


def _column(frame, name: str, path: Path, lo: float, hi: float) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))
    if len(bad):
        i = int(bad[0])
        rng = f"[{lo:g}, {hi:g}]" if np.isfinite(hi) else f">= {lo:g}"
        raise DataError(f"{path} row {i + 1}: {name} {frame[name].iloc[i]} is not a number in {rng}", path, i + 1)
    return values
