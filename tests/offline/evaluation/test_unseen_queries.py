"""The unseen-query figures: the mask, the query bootstrap, and `twinrank unseen-queries` on a report's
predictions file against a QADSM-format directory the test writes (made-up rows)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cli.app import app
from offline.evaluation.evaluate import Predictions, evaluate_predictions
from offline.evaluation.predictions_file import write_predictions
from offline.evaluation.unseen_queries import query_bootstrap_auc_ci, unseen_query_metrics, unseen_rows


def test_unseen_rows_marks_queries_outside_train_and_dev() -> None:
    mask = unseen_rows(["a", "b", "c", "a", "d"], {"a", "c"})
    assert mask.tolist() == [False, True, False, False, True]


def test_query_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(80), 5)
    y = rng.integers(0, 2, len(group))
    s = y + rng.normal(0, 1, len(y))
    lo, hi = query_bootstrap_auc_ci(y, s, group, n=200)
    assert lo < roc_auc_score(y, s) < hi and hi - lo < 0.2


def test_a_subset_with_one_label_is_refused() -> None:
    with pytest.raises(ValueError, match="needs both labels"):
        unseen_query_metrics({"m": np.zeros(4)}, np.array([1, 1, 0, 0]), np.arange(4),
                             np.array([True, True, False, False]))


def _split_file(path: Path, queries: list[str], labels: np.ndarray) -> None:
    path.write_text("".join(f"{q}\ttitel {i}\tbeschreibung {i}\t{'Good' if y else 'Bad'}\n"
                            for i, (q, y) in enumerate(zip(queries, labels, strict=True))))


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, Path]:
    """A predictions file and its QADSM-format directory: half the test queries also occur in train. The
    student is good on seen queries and random on unseen ones, so the two figures must differ."""
    rng = np.random.default_rng(1)
    seen = [f"seen {i}" for i in range(40)]
    test_q = [q for q in seen for _ in range(4)] + [f"neu {i}" for i in range(40) for _ in range(4)]
    y = rng.integers(0, 2, len(test_q))
    is_seen = np.array([q.startswith("seen") for q in test_q])
    student = np.where(is_seen, 3 * (y - 0.5), 0) + rng.normal(0, 1, len(y))
    teacher = 3 * (y - 0.5) + rng.normal(0, 1, len(y))
    labels_only = rng.normal(0, 1, len(y))
    dev_q = [f"dev {i}" for i in range(20) for _ in range(3)]
    y_dev = rng.integers(0, 2, len(dev_q))
    data = tmp_path / "qadsm"
    data.mkdir()
    _split_file(data / "train.txt", seen, rng.integers(0, 2, len(seen)))
    _split_file(data / "dev.txt", dev_q, y_dev)
    _split_file(data / "test.txt", test_q, y)
    scores = {"student_kd": student, "teacher": teacher, "student_labels": labels_only}
    p = Predictions({m: {"dev": rng.normal(0, 1, len(dev_q)), "test": s} for m, s in scores.items()},
                    {"dev": y_dev, "test": y}, test_q, {"head": "cos", "kind": "platt", "a": 1.0, "b": 0.0}, "cos")
    path = write_predictions(p, tmp_path / "report" / "predictions.parquet", {"dev": dev_q, "test": test_q})
    return path, data


def test_cli_recomputes_unseen_figures_from_predictions(report: tuple[Path, Path]) -> None:
    path, data = report
    out = CliRunner().invoke(app, ["unseen-queries", "--predictions", str(path), "--data", str(data),
                                   "--bootstrap", "200"])
    assert out.exit_code == 0, out.output
    figures = json.loads((path.parent / "unseen_queries.json").read_text())
    assert figures["rows"] == 160 and figures["queries"] == 40 and figures["rows_full"] == 320
    kd = figures["models"]["student_kd"]
    assert kd["roc_auc_full"] > kd["roc_auc_unseen"] + 0.1 and abs(kd["roc_auc_unseen"] - 0.5) < 0.15
    assert figures["gain_kept_unseen"] < figures["gain_kept_full"]
    assert "| student_kd |" in (path.parent / "unseen_queries.md").read_text()


def test_cli_names_a_mismatched_split_in_one_line(report: tuple[Path, Path], tmp_path: Path) -> None:
    path, data = report
    (data / "test.txt").write_text("eine anfrage\tt\td\tGood\n")
    out = CliRunner().invoke(app, ["unseen-queries", "--predictions", str(path), "--data", str(data)])
    assert out.exit_code != 0 and "test labels are not those of" in out.output
    assert "Traceback" not in out.output


def test_the_evaluate_stage_metrics_carry_the_unseen_figures(report: tuple[Path, Path]) -> None:
    path, data = report
    from offline.data.qadsm import read_split
    from offline.evaluation.predictions_file import read_predictions

    p = read_predictions(path)
    p.test_queries = read_split(data, "test").query
    p.seen_queries = frozenset(read_split(data, "train").query) | frozenset(read_split(data, "dev").query)
    p.scores = {**p.scores, "student_kd_cos": p.scores["student_kd"]}
    m = evaluate_predictions(p, bootstrap=100, ndcg_k=5, density_top=[1])
    assert m["test_unseen_queries"]["rows"] == 160
    assert set(m["test_unseen_queries"]["models"]) == set(p.scores)
