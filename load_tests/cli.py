"""Commands of this area for the `twinrank` CLI (registered by offline/cli.py): `loadtest` and `bench`.

Only typer is imported here; everything else is imported inside the commands.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer


def portable_command(prog: str, args: list[str]) -> str:
    """The command line as typed, with absolute paths shortened to `…/<last three parts>` (no machine paths)."""
    out = []
    for a in args:
        p = Path(a)
        out.append("…/" + "/".join(p.parts[-3:]) if p.is_absolute() and len(p.parts) > 3 else a)
    return shlex.join(["twinrank", prog, *out])


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def loadtest(
    url: str = typer.Option("http://127.0.0.1:8000", help="Service address; the only address ever contacted."),
    rate: float = typer.Option(200.0, help="Offered rate (requests/s) for a single run."),
    duration: float = typer.Option(30.0, help="Seconds per rate."),
    arrivals: str = typer.Option("constant", help="constant | poisson"),
    sweep: str = typer.Option("", help="Comma-separated rates, e.g. 50,100,200,400: find the highest meeting the SLO."),
    slo_ms: float = typer.Option(20.0, help="p99 SLO (ms) for --sweep."),
    max_error_rate: float = typer.Option(0.001, help="Largest error share a passing rate may have."),
    queries: Path | None = typer.Option(None, help="Query file: one per line, or a QADSM TSV (first field)."),
    ads_ratio: float = typer.Option(0.0, help="Share of requests that send ads (the rest retrieve), 0–1."),
    ads_per_request: int = typer.Option(10, help="Ads per request in ads mode."),
    ads_table: Path | None = typer.Option(None, help="Parquet ad table (e.g. a bundle's ads.parquet) for ads mode."),
    top_k: int = typer.Option(10),
    defect_weight: float = typer.Option(0.5),
    timeout: float = typer.Option(2.0, help="Per-request timeout (s) from the scheduled time."),
    max_conns: int = typer.Option(512, help="Most keep-alive connections open at once."),
    warmup: float = typer.Option(3.0, help="Seconds of unrecorded warm-up at the lowest rate."),
    path: str = typer.Option("/rank", help="Endpoint path."),
    ready_timeout: float = typer.Option(60.0, help="Seconds to wait for GET /readyz to answer 200 (0: skip)."),
    out: Path = typer.Option(Path("reports/loadtest"), help="Directory for loadtest.json/.md/.png."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, help="No progress line."),
) -> None:
    """Open-loop load test of POST /rank: latency from scheduled send times, HDR percentiles, errors by kind."""
    from load_tests.loadtest import LoadTestSpec, run_loadtest
    from load_tests.sweep import Slo, parse_rates

    if arrivals not in ("constant", "poisson"):
        _fail(f"--arrivals must be 'constant' or 'poisson', got {arrivals!r}")
    if not 0 <= ads_ratio <= 1:
        _fail(f"--ads-ratio must be in [0, 1], got {ads_ratio}")
    if rate <= 0 or duration <= 0 or timeout <= 0:
        _fail("--rate, --duration and --timeout must be > 0")
    try:
        rates = parse_rates(sweep) if sweep else [rate]
        spec = LoadTestSpec(
            url=url, rates=rates, duration=duration, arrivals=arrivals, path=path,
            queries=str(queries) if queries else None, ads_ratio=ads_ratio, ads_per_request=ads_per_request,
            ads_table=str(ads_table) if ads_table else None, top_k=top_k, defect_weight=defect_weight,
            timeout=timeout, max_conns=max_conns, warmup=warmup, ready_timeout=ready_timeout,
            slo=Slo(p99_ms=slo_ms, max_error_rate=max_error_rate), seed=seed, progress=not quiet,
        )
        doc = run_loadtest(spec, out, command=portable_command("loadtest", sys.argv[2:]))
    except (ValueError, FileNotFoundError, TimeoutError) as exc:
        _fail(str(exc))
        return
    last = doc["runs"][-1]
    summary = {"achieved_rps": last["achieved_rps"], **{k: last["latency_ms"][k] for k in
               ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")}, "errors": last["errors"]}
    if "max_rps_meeting_slo" in doc:
        summary["max_rps_meeting_slo"] = doc["max_rps_meeting_slo"]
    typer.echo(json.dumps(summary))


def bench(
    out: Path = typer.Option(Path("reports/perf"), help="Directory for perf.json, perf.md and plots."),
    bundle: Path | None = typer.Option(None, help="A 1M-ad bundle root (built when missing, see --build-bundle)."),
    student: Path | None = typer.Option(None, help="Model dir from `twinrank export` served in the e2e part "
                                        "(default: an untrained student of the shipped shape)."),
    only: str = typer.Option("", help="Comma-separated parts to run: teacher,encode,retrieval,e2e,generator."),
    queries: Path | None = typer.Option(None, help="Query file (one per line or QADSM TSV); default: built-in."),
    quick: bool = typer.Option(False, help="Small sizes (for a smoke run), not the reported figures."),
    work: Path = typer.Option(Path("runs/bench"), help="Scratch directory: exported models, vectors, bundles."),
    threads: int = typer.Option(1, min=1, help="Threads for ONNX Runtime / PyTorch / FAISS in parts 1-3."),
    sweep: str = typer.Option("25,50,100,150,200,300,400,600", help="Offered rates of the end-to-end sweep."),
    server_env: str = typer.Option("", help="Service settings for the e2e part, e.g. "
                                   "TWINRANK_ENCODER_PRECISION=int8,TWINRANK_ORT_INTRA_OP_THREADS=1"),
    e2e_name: str = typer.Option("end_to_end", help="Section name for the e2e result (variants beside the default)."),
    repeats: int = typer.Option(5, min=1, help="Fixed-rate /rank runs at 200 req/s; the headline p99 is the median "
                                "run's (a shared machine's whole-VM stalls hit single runs)."),
) -> None:
    """Benchmarks, side by side in one run: teacher vs student, query encoding, retrieval, end-to-end /rank."""
    from load_tests.bench import BenchOptions, run_bench
    from load_tests.sweep import parse_rates

    try:
        env = dict(kv.split("=", 1) for kv in server_env.split(",") if kv)
        if not e2e_name.startswith("end_to_end"):
            raise ValueError(f"--e2e-name must start with 'end_to_end', got {e2e_name!r}")
        run_bench(BenchOptions(sweep=tuple(parse_rates(sweep)), server_env=env, e2e_name=e2e_name, out=out,
                               bundle=bundle, student=student,
                               only=[p for p in only.split(",") if p], queries=str(queries) if queries else None,
                               quick=quick, work=work, threads=threads, e2e_repeats=repeats,
                               command=portable_command("bench", sys.argv[2:])))
    except (ValueError, FileNotFoundError, TimeoutError, RuntimeError) as exc:
        _fail(str(exc))


def ab(
    arm: list[str] = typer.Option(..., "--arm", help="NAME=http://HOST:PORT of a running server; two or more, "
                                  "the first is the baseline."),
    rate: float = typer.Option(200.0, help="Offered rate (requests/s) of every run."),
    duration: float = typer.Option(20.0, help="Seconds per run."),
    rounds: int = typer.Option(6, min=1, help="Rounds; each drives every arm once, in rotated order."),
    warmup: float = typer.Option(2.0, help="Seconds of unrecorded warm-up before each run."),
    queries: Path | None = typer.Option(None, help="Query file: one per line, or a QADSM TSV (first field)."),
    top_k: int = typer.Option(10),
    ready_timeout: float = typer.Option(300.0, help="Seconds to wait for each arm's GET /readyz (0: skip)."),
    out: Path = typer.Option(Path("reports/ab"), help="Directory for ab.json, ab.md and ab_p99.png."),
    quiet: bool = typer.Option(False, help="No progress lines."),
) -> None:
    """Interleaved A/B of servers running side by side: every round drives each arm once at the same open-loop
    rate; the report gives median p50/p99, CPU per request, and in how many rounds each arm beat the baseline."""
    from load_tests.ab import Arm, interleaved, write_ab
    from load_tests.loadtest import LoadTestSpec

    try:
        arms = [Arm.parse(a) for a in arm]
        spec = LoadTestSpec(url=arms[0].url, rates=[rate], duration=duration, warmup=warmup,
                            queries=str(queries) if queries else None, top_k=top_k, ready_timeout=ready_timeout,
                            progress=not quiet)
        doc = interleaved(arms, spec, rounds)
        doc["command"] = portable_command("ab", sys.argv[2:])
        for p in write_ab(out, doc):
            typer.echo(f"wrote {p}", err=True)
    except (ValueError, FileNotFoundError, TimeoutError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps({name: {k: v for k, v in s.items() if k != "errors"} for name, s in doc["summary"].items()}))


def register(app: typer.Typer) -> None:
    """Add `loadtest`, `bench` and `ab` to `app`."""
    app.command("loadtest")(loadtest)
    app.command("bench")(bench)
    app.command("ab")(ab)
