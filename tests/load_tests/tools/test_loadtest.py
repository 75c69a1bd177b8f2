"""Sweep logic, report files and the `twinrank loadtest` command against a real local server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from load_tests.generator.sweep import Slo, max_passing_rate, parse_rates, sweep, verdict
from load_tests.tools.loadtest_report import write_loadtest_report


def _run(rate: float, p99: float, ok: int = 100, errors: int = 0, achieved: float | None = None) -> dict:
    return {"offered_rps": rate, "ok": ok, "error_rate": errors / max(ok + errors, 1),
            "achieved_rps": rate if achieved is None else achieved, "latency_ms": {"p99_ms": p99}}


def test_verdict_names_the_reason():
    slo = Slo(p99_ms=20)
    assert verdict(_run(100, 12.0), slo) == (True, "ok")
    assert "p99" in verdict(_run(100, 25.0), slo)[1]
    assert "error rate" in verdict(_run(100, 5.0, errors=5), slo)[1]
    assert "achieved" in verdict(_run(100, 5.0, achieved=80), slo)[1]
    assert not verdict(_run(100, 0.0, ok=0), slo)[0]


def test_max_passing_rate_stops_at_first_failure():
    slo = Slo(p99_ms=20)
    runs = [_run(50, 5), _run(100, 8), _run(200, 30), _run(400, 15)]
    assert max_passing_rate(runs, slo) == 100
    assert max_passing_rate([_run(50, 25)], slo) is None


def test_sweep_runs_ascending_and_stops_after_failure():
    seen = []

    def run_at(rate: float) -> dict:
        seen.append(rate)
        return _run(rate, rate / 10)  # p99 grows with load

    out = sweep([400, 50, 100, 200, 800], run_at, Slo(p99_ms=25))
    assert seen == [50, 100, 200, 400]
    assert out["max_rps_meeting_slo"] == 200
    assert [r["slo_pass"] for r in out["runs"]] == [True, True, True, False]


def test_parse_rates():
    assert parse_rates("200, 50,100") == [50, 100, 200]
    for bad in ("", "a,b", "50,-1"):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_cli_sweep_against_real_server_writes_reports(echo, tmp_path):
    from cli.app import app

    _, url = echo(delay=lambda i: 0.003)
    out = tmp_path / "lt"
    res = CliRunner().invoke(app, ["loadtest", "--url", url, "--sweep", "50,100", "--duration", "1", "--warmup", "0.3",
                                   "--slo-ms", "200", "--out", str(out), "--quiet", "--ads-ratio", "0.5"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "loadtest.json").read_text())
    assert doc["rates"] == [50, 100] and doc["max_rps_meeting_slo"] == 100
    assert all(r["ok"] == r["scheduled"] for r in doc["runs"])
    assert set(doc["runs"][0]["latency_by_mode_ms"]) == {"ads", "query"}
    assert doc["machine"]["usable_cores"] >= 1
    assert (out / "loadtest_latency_vs_rate.png").stat().st_size > 1000
    assert "Highest offered rate" in (out / "loadtest.md").read_text()


def test_cli_refuses_bad_input_with_one_line(tmp_path, closed_port):
    from cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["loadtest", "--arrivals", "burst", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--arrivals" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["loadtest", "--url", f"http://127.0.0.1:{closed_port}", "--ready-timeout", "0.5",
                              "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "not ready" in res.output
    assert not (tmp_path / "x").exists()
    res = runner.invoke(app, ["loadtest", "--url", "ftp://x", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--url" in res.output
    res = runner.invoke(app, ["loadtest", "--query-stream", "rows", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--query-stream" in res.output and "Traceback" not in res.output


def test_cli_replays_a_query_stream_with_its_repeats(echo, tmp_path):
    from cli.app import app

    _, url = echo(delay=lambda i: 0.001)
    queries = tmp_path / "q.txt"
    queries.write_text("".join(f"{q}\n" for q in ["zelt"] * 30 + ["sofa"] * 10))
    out = tmp_path / "lt"
    res = CliRunner().invoke(app, ["loadtest", "--url", url, "--rate", "40", "--duration", "1", "--warmup", "0",
                                   "--queries", str(queries), "--query-stream", "rows", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    mix = json.loads((out / "loadtest.json").read_text())["mix"]
    assert mix["query_stream"] == "rows" and mix["n_queries"] == 2 and mix["n_bodies"] == 40


def test_write_report_replaces_files_whole(tmp_path):
    run = {"offered_rps": 10, "achieved_rps": 10, "ok": 1, "errors": {}, "error_rate": 0.0,
           "latency_ms": {"p50_ms": 1, "p90_ms": 1, "p99_ms": 1, "p99_9_ms": 1, "max_ms": 1},
           "histogram_ms": [[1.0, 1]], "server_stages_ms": {}, "generator_cpu_us_per_request": 100,
           "send_lag_ms": {"p99_ms": 0.5}}
    doc = {"target": "t", "arrivals": "constant", "duration_s": 1, "runs": [run],
           "mix": {"ads_ratio": 0, "ads_per_request": 1, "queries_source": "built-in"}}
    paths = write_loadtest_report(tmp_path, doc, stem="x")
    assert [p.name for p in paths] == ["x.json", "x.md", "x_latency_vs_rate.png", "x_latency_hist.png"]
    assert json.loads((tmp_path / "x.json").read_text())["runs"][0]["ok"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_writes_the_timeline_with_the_events_of_the_event_file(echo, tmp_path):
    import threading
    import time

    from cli.app import app

    _, url = echo(delay=lambda i: 0.002)
    out, events = tmp_path / "lt", tmp_path / "events.txt"

    def mark() -> None:
        with events.open("a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} index update\n")

    marker = threading.Timer(1.0, mark)
    marker.start()
    res = CliRunner().invoke(app, ["loadtest", "--url", url, "--rate", "50", "--duration", "2", "--warmup", "0",
                                   "--out", str(out), "--quiet", "--event-file", str(events)])
    marker.join()
    assert res.exit_code == 0, res.output
    run = json.loads((out / "loadtest.json").read_text())["runs"][0]
    rows = run["timeline"]["seconds"]
    assert sum(r["sent"] for r in rows) == run["sent"] == 100 and sum(r["ok"] for r in rows) == run["ok"]
    assert [(e["label"], e["source"]) for e in run["timeline"]["events"]] == [("index update", "marked")]
    assert 0.3 < run["timeline"]["events"][0]["t"] < 2.0
    assert (out / "loadtest_timeline.png").stat().st_size > 1000
    assert "index update" in (out / "loadtest.md").read_text()
