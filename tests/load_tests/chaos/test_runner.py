"""The campaign runner over tiny fake case modules: order, fresh workdirs, a raising case is a failed case, a
missing one is skipped with a note, results.json and report.md; `twinrank chaos` and `python -m` refuse bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from load_tests.chaos.__main__ import main as chaos_main
from load_tests.chaos.runner import CASE_ORDER, run_campaign, select_cases

FAKE = "tests.load_tests.chaos.fake_cases"
ORDER = ("good", "absent", "boom", "bad")


def test_runs_every_case_and_reports_failures_and_absent_cases(tmp_path):
    out = tmp_path / "rel"
    logged: list[str] = []
    doc = run_campaign(out, quick=True, package=FAKE, order=ORDER, log=logged.append, work_root=tmp_path)
    assert [c["name"] for c in doc["cases"]] == ["good", "boom", "bad"]
    assert [c["passed"] for c in doc["cases"]] == [True, False, False]
    assert doc["passed"] == 1 and doc["failed"] == 2
    assert doc["skipped"] == [{"name": "absent", "reason": f"not present: no module {FAKE}.absent on this branch"}]
    boom = doc["cases"][1]
    assert boom["summary"].startswith("raised RuntimeError: server never came up")
    assert any("RuntimeError" in line for line in boom["details"])
    assert doc["cases"][2]["summary"] == "3 failed requests (quick=True)"
    assert json.loads((out / "results.json").read_text()) == doc
    md = (out / "report.md").read_text()
    assert "| good | yes | all fine | p99_ratio 1.25; failed 0 |" in md
    assert "| boom | **no** | raised RuntimeError: server never came up \\| port 1234 |" in md
    assert "| absent | skipped |" in md
    assert "![good](good_plot.png)" in md and "- trial 1: ok" in md
    assert any(line.startswith("boom: FAILED") for line in logged)
    kept = list(tmp_path.glob("twinrank-chaos-*/*"))  # failed cases' work directories stay for a look
    assert sorted(p.name for p in kept) == ["bad", "boom"] and doc["workdirs_kept"] is True


def test_only_reruns_some_cases_and_keeps_the_others_results(tmp_path):
    out = tmp_path / "rel"
    first = run_campaign(out, quick=True, package=FAKE, order=ORDER, work_root=tmp_path)
    again = run_campaign(out, quick=True, only="bad", package=FAKE, order=ORDER, work_root=tmp_path)
    assert again["selected"] == ["bad"]
    assert [c["name"] for c in again["cases"]] == ["good", "boom", "bad"]
    assert again["cases"][0]["run_at"] == first["started_at"]
    # another mode: nothing of the quick runs is kept
    full = run_campaign(out, quick=False, only="good", package=FAKE, order=ORDER, work_root=tmp_path)
    assert [c["name"] for c in full["cases"]] == ["good"] and full["workdirs_kept"] is False


def test_select_cases_keeps_campaign_order_and_names_unknown_cases():
    assert select_cases("soak, swap_under_load") == ["swap_under_load", "soak"]
    assert select_cases(None) == list(CASE_ORDER)
    with pytest.raises(ValueError, match="unknown case.*nope"):
        select_cases("soak,nope")


def test_command_lines_refuse_an_unknown_case_in_one_line(tmp_path, capsys):
    from cli.app import app

    res = CliRunner().invoke(app, ["chaos", "--only", "nope", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and res.output.strip().startswith("error: --only: unknown case(s) nope")
    assert "\n" not in res.output.strip() and not (tmp_path / "r").exists()
    assert chaos_main(["--only", "nope", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("error: --only: unknown case(s) nope")


def test_a_case_past_its_timeout_fails_and_its_processes_are_killed(tmp_path):
    from tests.load_tests.chaos.fake_cases import hang

    out = tmp_path / "rel"
    doc = run_campaign(out, quick=True, package=FAKE, order=("hang", "good"), work_root=tmp_path)
    assert [c["name"] for c in doc["cases"]] == ["hang", "good"] and [c["passed"] for c in doc["cases"]] == [
        False, True]
    assert doc["cases"][0]["summary"] == "timed out after 1.5 s (1 child process(es) it started were killed)"
    assert 1.5 <= doc["cases"][0]["seconds"] < 15
    assert hang.STARTED and all(child.wait(timeout=10) is not None for child in hang.STARTED)
    # the campaign's own timeout replaces the case's
    again = run_campaign(out, quick=True, package=FAKE, order=("hang",), work_root=tmp_path, case_timeout_s=0.5)
    assert again["cases"][0]["summary"].startswith("timed out after 0.5 s")
