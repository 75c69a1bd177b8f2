"""`twinrank loadtest` and `twinrank ab` (`load_tests.tools`). Their option defaults are the field defaults of
`load_tests.tools.spec`; the generator is imported inside the commands."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from cli.errors import RUN_ERRORS, ExitCode, fail, one_line_errors
from load_tests.generator.sweep import Slo
from load_tests.tools.spec import AB_OUT, AB_ROUNDS, AB_SPEC, LOADTEST_OUT, LoadTestSpec

SPEC, SLO = LoadTestSpec(), Slo()


def portable_command(prog: str, args: list[str]) -> str:
    """The command line as typed, with absolute paths shortened to `…/<last three parts>` (no machine paths)."""
    out = []
    for a in args:
        p = Path(a)
        out.append("…/" + "/".join(p.parts[-3:]) if p.is_absolute() and len(p.parts) > 3 else a)
    return shlex.join(["twinrank", prog, *out])


def loadtest(
    url: str = typer.Option(SPEC.url, help="Service address; the only address ever contacted."),
    rate: float = typer.Option(SPEC.rates[0], help="Offered rate (requests/s) for a single run."),
    duration: float = typer.Option(SPEC.duration, help="Seconds per rate."),
    arrivals: str = typer.Option(SPEC.arrivals, help="constant | poisson"),
    sweep: str = typer.Option("", help="Comma-separated rates, e.g. 50,100,200,400: find the highest meeting the SLO."),
    slo_ms: float = typer.Option(SLO.p99_ms, help="p99 SLO (ms) for --sweep."),
    max_error_rate: float = typer.Option(SLO.max_error_rate, help="Largest error share a passing rate may have."),
    queries: Path | None = typer.Option(None, help="Query file: one per line, or a QADSM TSV (first field)."),
    query_stream: str = typer.Option(SPEC.query_stream, help="distinct: the file's distinct queries at random; "
                                     "rows: every row's query in a seeded shuffle (head queries repeat as in the "
                                     "file: real traffic for a query cache)"),
    ads_ratio: float = typer.Option(SPEC.ads_ratio, help="Share of requests that send ads (the rest retrieve), 0–1."),
    ads_per_request: int = typer.Option(SPEC.ads_per_request, help="Ads per request in ads mode."),
    ads_table: Path | None = typer.Option(None, help="Parquet ad table (e.g. a bundle's ads.parquet) for ads mode."),
    top_k: int = typer.Option(SPEC.top_k),
    defect_weight: float = typer.Option(SPEC.defect_weight),
    timeout: float = typer.Option(SPEC.timeout, help="Per-request timeout (s) from the scheduled time."),
    max_conns: int = typer.Option(SPEC.max_conns, help="Most keep-alive connections open at once."),
    warmup: float = typer.Option(SPEC.warmup, help="Seconds of unrecorded warm-up at the lowest rate."),
    path: str = typer.Option(SPEC.path, help="Endpoint path."),
    ready_timeout: float = typer.Option(SPEC.ready_timeout, help="Seconds to wait for GET /readyz to answer 200 "
                                        "(0: skip)."),
    out: Path = typer.Option(LOADTEST_OUT, help="Directory for loadtest.json/.md/.png."),
    seed: int = typer.Option(SPEC.seed),
    event_file: Path | None = typer.Option(None, help="Events to mark on the timeline: lines 'UNIX_SECONDS LABEL' "
                                           "appended while the test runs (e.g. echo \"$(date +%s.%N) swap\" >> F)."),
    quiet: bool = typer.Option(False, help="No progress line."),
) -> None:
    """Open-loop load test of POST /rank: latency from scheduled send times, HDR percentiles, errors by kind, and a
    per-second timeline (JSON and plot) with the events marked or seen (bundle version changes)."""
    from load_tests.generator.sweep import parse_rates
    from load_tests.tools.loadtest import run_loadtest

    if arrivals not in ("constant", "poisson"):
        fail(f"--arrivals must be 'constant' or 'poisson', got {arrivals!r}", ExitCode.USAGE)
    if not 0 <= ads_ratio <= 1:
        fail(f"--ads-ratio must be in [0, 1], got {ads_ratio}", ExitCode.USAGE)
    if rate <= 0 or duration <= 0 or timeout <= 0:
        fail("--rate, --duration and --timeout must be > 0", ExitCode.USAGE)
    with one_line_errors(ExitCode.USAGE, RUN_ERRORS):
        rates = parse_rates(sweep) if sweep else [rate]
        spec = LoadTestSpec(
            url=url, rates=rates, duration=duration, arrivals=arrivals, path=path,
            queries=str(queries) if queries else None, query_stream=query_stream, ads_ratio=ads_ratio,
            ads_per_request=ads_per_request, ads_table=str(ads_table) if ads_table else None, top_k=top_k,
            defect_weight=defect_weight,
            timeout=timeout, max_conns=max_conns, warmup=warmup, ready_timeout=ready_timeout,
            slo=Slo(p99_ms=slo_ms, max_error_rate=max_error_rate), seed=seed, progress=not quiet,
            event_file=str(event_file) if event_file else None,
        )
        doc = run_loadtest(spec, out, command=portable_command("loadtest", sys.argv[2:]))
    last = doc["runs"][-1]
    summary = {"achieved_rps": last["achieved_rps"], **{k: last["latency_ms"][k] for k in
               ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")}, "errors": last["errors"]}
    if "max_rps_meeting_slo" in doc:
        summary["max_rps_meeting_slo"] = doc["max_rps_meeting_slo"]
    if events := (last.get("timeline") or {}).get("events"):
        summary["events"] = [f"t={e['t']:.1f}s {e['label']}" for e in events]
    typer.echo(json.dumps(summary))


def ab(
    arm: list[str] = typer.Option(..., "--arm", help="NAME=http://HOST:PORT of a running server; two or more, "
                                  "the first is the baseline."),
    rate: float = typer.Option(AB_SPEC.rates[0], help="Offered rate (requests/s) of every run."),
    duration: float = typer.Option(AB_SPEC.duration, help="Seconds per run."),
    rounds: int = typer.Option(AB_ROUNDS, min=1, help="Rounds; each drives every arm once, in rotated order."),
    warmup: float = typer.Option(AB_SPEC.warmup, help="Seconds of unrecorded warm-up before each run."),
    queries: Path | None = typer.Option(None, help="Query file: one per line, or a QADSM TSV (first field)."),
    top_k: int = typer.Option(AB_SPEC.top_k),
    ready_timeout: float = typer.Option(AB_SPEC.ready_timeout, help="Seconds to wait for each arm's GET /readyz "
                                        "(0: skip)."),
    out: Path = typer.Option(AB_OUT, help="Directory for ab.json, ab.md and ab_p99.png."),
    quiet: bool = typer.Option(False, help="No progress lines."),
) -> None:
    """Interleaved A/B of servers running side by side: every round drives each arm once at the same open-loop
    rate; the report gives median p50/p99, CPU per request, and in how many rounds each arm beat the baseline."""
    from dataclasses import replace

    from load_tests.tools.ab import Arm, interleaved, write_ab

    with one_line_errors(ExitCode.USAGE, RUN_ERRORS):
        arms = [Arm.parse(a) for a in arm]
        spec = replace(AB_SPEC, url=arms[0].url, rates=[rate], duration=duration, warmup=warmup,
                       queries=str(queries) if queries else None, top_k=top_k, ready_timeout=ready_timeout,
                       progress=not quiet)
        doc = interleaved(arms, spec, rounds)
        doc["command"] = portable_command("ab", sys.argv[2:])
        for p in write_ab(out, doc):
            typer.echo(f"wrote {p}", err=True)
    typer.echo(json.dumps({name: {k: v for k, v in s.items() if k != "errors"} for name, s in doc["summary"].items()}))


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest)
    app.command("ab")(ab)
