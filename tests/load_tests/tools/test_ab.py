"""Interleaved A/B against two real local HTTP servers: the slower arm loses every round."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from load_tests.tools.ab import Arm, interleaved, summarize, write_ab
from load_tests.tools.spec import LoadTestSpec


def _spec(**kw) -> LoadTestSpec:
    return LoadTestSpec(url="http://127.0.0.1:1", rates=[40], duration=1.0, warmup=0.2, ready_timeout=5,
                        progress=False, **kw)


def test_the_slower_arm_loses_every_round_and_the_order_rotates(echo, tmp_path) -> None:
    _, fast = echo(delay=lambda i: 0.001)
    _, slow = echo(delay=lambda i: 0.080)
    doc = interleaved([Arm("fast", fast), Arm("slow", slow)], _spec(), rounds=2)
    assert [(r["round"], r["arm"], r["position"]) for r in doc["runs"]] == [
        (1, "fast", 0), (1, "slow", 1), (2, "slow", 0), (2, "fast", 1)]
    s = doc["summary"]
    # p50s and medians, not single-run p99s, carry the assertion: a p99 of 40 requests is their max, and a stall
    # of this shared machine can push one run's max past any delay gap (the counting is tested exactly below)
    assert s["slow"]["median_p50_ms"] >= 80 > 40 > s["fast"]["median_p50_ms"]
    assert s["slow"]["median_p99_ms"] > s["fast"]["median_p99_ms"]
    assert s["slow"]["rounds_p99_above_baseline"] + s["slow"]["rounds_p99_below_baseline"] == 2
    assert s["fast"]["rounds_p99_above_baseline"] == s["fast"]["rounds_p99_below_baseline"] == 0
    assert s["fast"]["median_server_cpu_ms_per_request"] is None  # the echo server exports no CPU counters
    assert all(r["ok"] == 40 and r["errors"] == {} for r in doc["runs"])
    paths = write_ab(tmp_path, doc)
    assert all(p.exists() for p in paths)
    assert "| slow |" in (tmp_path / "ab.md").read_text()


def test_summary_counts_paired_rounds_only() -> None:
    runs = [{"round": r, "arm": a, "p50_ms": 1.0, "p99_ms": p, "errors": {}, "server_cpu_ms_per_request": 2.0}
            for r, a, p in [(1, "a", 5.0), (1, "b", 4.0), (2, "a", 5.0), (2, "b", 6.0), (3, "b", 1.0)]]
    s = summarize(runs, ["a", "b"])
    assert (s["b"]["rounds_p99_below_baseline"], s["b"]["rounds_p99_above_baseline"]) == (1, 1)
    assert s["b"]["median_p99_ms"] == 4.0 and s["a"]["median_server_cpu_ms_per_request"] == 2.0


@pytest.mark.parametrize(("arms", "message"), [
    (["only=http://127.0.0.1:1"], "at least two"),
    (["a=http://127.0.0.1:1", "a=http://127.0.0.1:2"], "must differ"),
    (["http://127.0.0.1:1", "b=http://127.0.0.1:2"], "NAME=http://HOST:PORT"),
    (["a=ftp://x:1", "b=http://127.0.0.1:2"], "--url must look like"),
])
def test_bad_arms_get_a_one_line_error(arms, message, tmp_path) -> None:
    from cli.app import app

    args = ["ab", "--out", str(tmp_path), "--ready-timeout", "0"]
    for a in arms:
        args += ["--arm", a]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_writes_the_report(echo, tmp_path) -> None:
    from cli.app import app

    _, a = echo(delay=lambda i: 0.001)
    _, b = echo(delay=lambda i: 0.002)
    result = CliRunner().invoke(app, ["ab", "--arm", f"a={a}", "--arm", f"b={b}", "--rate", "30", "--duration",
                                      "0.5", "--rounds", "1", "--warmup", "0", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) == {"a", "b"}
    assert json.loads((tmp_path / "ab.json").read_text())["baseline"] == "a"
