"""`twinrank replay`: a report from either input, and one-line errors (no traceback) for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.utils.cli import assert_one_line_error
from tests.utils.predictions import write_synthetic_predictions

runner = CliRunner()
SMALL = ["--weights", "0,0.1", "--floors", "0,0.5", "--reserves", "none,0"]


@pytest.fixture(scope="module")
def predictions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_predictions(tmp_path_factory.mktemp("cli-replay") / "predictions.parquet")


def test_replay_writes_the_report(predictions: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["replay", "--predictions", str(predictions), "--out", str(tmp_path / "out"),
                            "--grid-models", "student_kd", "--seed", "4", *SMALL])
    assert r.exit_code == 0, r.output
    assert "recommended (student_kd" in r.output or "no setting of student_kd" in r.output
    doc = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert doc["source"]["draws"].endswith("seed 4, independent of the label") and len(doc["grid"]) == 8
    assert {x["seed"] for x in doc["seed_check"]} == {5, 6, 7}
    assert "## Other bid and pClick draws" in (tmp_path / "out" / "report.md").read_text()
    assert {"report.md", "revenue_vs_bad_by_w.png", "revenue_vs_bad_by_floor.png"} <= {
        p.name for p in (tmp_path / "out").iterdir()}


def test_replay_of_a_pairs_file(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("query,label,relevance,bid,p_click\nq1,Good,0.9,1.2,0.04\nq1,Bad,0.3,1.5,0.03\n"
                     "q2,Bad,0.2,0.8,0.02\nq2,Good,0.7,0.9,0.05\n")
    r = runner.invoke(app, ["replay", "--pairs", str(pairs), "--out", str(tmp_path / "out"), *SMALL])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert doc["source"]["bid"] == "file" and doc["served_model"] == "relevance"


def test_replay_errors_are_one_line(predictions: Path, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "out")]
    assert_one_line_error(runner.invoke(app, ["replay", *out]), "exactly one of --predictions and --pairs")
    assert_one_line_error(runner.invoke(app, ["replay", "--predictions", str(tmp_path / "nope.parquet"), *out]),
                    "nope.parquet does not exist")
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    bad = runner.invoke(app, ["replay", "--predictions", str(not_parquet), *out])
    assert_one_line_error(bad, "not a readable Parquet")
    p = ["--predictions", str(predictions), *out]
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--weights", "0,abc"]), "--weights", "'abc'")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--floors", "0,1.5"]), "--floors", "outside")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--reserves", "none,x"]), "--reserves")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--top-k", "0"]), "--top-k")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--grid-models", "bert"]), "--grid-models", "bert")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--models", "bert"]), "no model column bert")
    assert_one_line_error(runner.invoke(app, ["replay", *p, "--bid-sigma", "-1"]), "sigma")
    bad = tmp_path / "bad.csv"
    bad.write_text("query,label,relevance,p_click\nq,Good,0.5,0.1\nq,Bad,0.5,2\n")
    assert_one_line_error(runner.invoke(app, ["replay", "--pairs", str(bad), *out]), "row 2", "p_click")
