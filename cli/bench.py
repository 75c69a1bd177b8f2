"""`twinrank bench` (the performance benchmarks, `load_tests.bench.runner`) and `twinrank scale-bench index|encode`
(the bundle-build scale measurements, `load_tests.bench.index_scale`). Option defaults come from
`BenchOptions`; the benchmarks are imported inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from cli.errors import RUN_ERRORS, ExitCode, one_line_errors
from cli.load import portable_command
from load_tests.bench.runner import LIBRARY_SETS, PARTS, BenchOptions

DEFAULTS = BenchOptions()
scale_app = typer.Typer(no_args_is_help=True, help="Index build and ad-encoding scale (reports/bundle/scale.json).")


def bench(
    out: Path = typer.Option(DEFAULTS.out, help="Directory for perf.json, perf.md and plots."),
    bundle: Path | None = typer.Option(None, help="A 1M-ad bundle root (built when missing, see --build-bundle)."),
    student: Path | None = typer.Option(None, help="Model dir from `twinrank export` served in the e2e part "
                                        "(default: an untrained student of the shipped shape)."),
    only: str = typer.Option("", help=f"Comma-separated parts to run: {','.join(PARTS)}."),
    queries: Path | None = typer.Option(None, help="Query file (one per line or QADSM TSV); default: built-in."),
    quick: bool = typer.Option(DEFAULTS.quick, help="Small sizes (for a smoke run), not the reported figures."),
    work: Path = typer.Option(DEFAULTS.work, help="Scratch directory: exported models, vectors, bundles."),
    threads: int = typer.Option(DEFAULTS.threads, min=1, help="Threads for ONNX Runtime / PyTorch / FAISS in parts "
                                "1-3."),
    sweep: str = typer.Option(",".join(f"{r:g}" for r in DEFAULTS.sweep), help="Offered rates of the end-to-end "
                              "sweep."),
    server_env: str = typer.Option("", help="Service settings for the e2e part, e.g. "
                                   "TWINRANK_ENCODER_PRECISION=int8,TWINRANK_ORT_INTRA_OP_THREADS=1"),
    e2e_name: str = typer.Option(DEFAULTS.e2e_name, help="Section name for the e2e result (variants beside the "
                                 "default)."),
    repeats: int = typer.Option(DEFAULTS.e2e_repeats, min=1, help="Fixed-rate /rank runs at 200 req/s; the headline "
                                "p99 is the median run's (a shared machine's whole-VM stalls hit single runs)."),
    model: Path = typer.Option(DEFAULTS.model, help="Exported student of the libraries and runtimes parts."),
    qadsm_dir: Path | None = typer.Option(None, help="QADSM directory with train/dev/test.txt (libraries and "
                                          "runtimes parts); default: the --queries file's directory."),
    student_ads: int = typer.Option(DEFAULTS.student_ads, min=100, help="Real-ad catalog size the libraries "
                                    "part encodes with the model's ad tower (QADSM ads, then sample-catalog ads)."),
    encode_budget_s: float = typer.Option(DEFAULTS.encode_budget_s, min=0, help="Stop encoding that catalog "
                                          "after this many seconds (0: no limit); vectors are cached, a rerun "
                                          "resumes."),
    library_sets: str = typer.Option(",".join(DEFAULTS.library_sets), help="Vector sets of the libraries part: "
                                     "student,synthetic."),
    library_synthetic_n: int | None = typer.Option(None, min=1000, help="Size of the libraries part's synthetic "
                                                   "set (default: the retrieval part's, 1M; 100k with --quick)."),
    peer_model: str = typer.Option(DEFAULTS.peer_model, help="The peers part's sentence-transformers model: a "
                                   "packaged name (models.pretrained) or a local directory."),
    peer_ads: int = typer.Option(DEFAULTS.peer_ads, min=10, help="Sample-catalog size of the peers part (the same "
                                 "ads for every stack)."),
    peer_sweep: str = typer.Option(",".join(f"{r:g}" for r in DEFAULTS.peer_sweep), help="Offered rates of the "
                                   "peers part's sweeps (the lowest is the fallback common rate)."),
    peer_sweep_s: float = typer.Option(DEFAULTS.peer_sweep_s, min=1.0, help="Seconds per rate of the peers "
                                       "part's sweeps."),
) -> None:
    """Benchmarks, side by side in one run: teacher vs student, query encoding, retrieval, end-to-end /rank."""
    from load_tests.bench.runner import run_bench
    from load_tests.generator.sweep import parse_rates

    with one_line_errors(ExitCode.USAGE, (*RUN_ERRORS, RuntimeError)):
        env = dict(kv.split("=", 1) for kv in server_env.split(",") if kv)
        sets = tuple(x for x in library_sets.split(",") if x)
        if bad := [x for x in sets if x not in LIBRARY_SETS]:
            raise ValueError(f"--library-sets: unknown set(s) {bad}; sets are {list(LIBRARY_SETS)}")
        if not e2e_name.startswith("end_to_end"):
            raise ValueError(f"--e2e-name must start with 'end_to_end', got {e2e_name!r}")
        run_bench(BenchOptions(sweep=tuple(parse_rates(sweep)), server_env=env, e2e_name=e2e_name, out=out,
                               bundle=bundle, student=student,
                               only=[p for p in only.split(",") if p], queries=str(queries) if queries else None,
                               quick=quick, work=work, threads=threads, e2e_repeats=repeats, model=model,
                               qadsm_dir=qadsm_dir, student_ads=student_ads, encode_budget_s=encode_budget_s,
                               library_sets=sets, library_synthetic_n=library_synthetic_n,
                               peer_model=peer_model, peer_ads=peer_ads, peer_sweep=tuple(parse_rates(peer_sweep)),
                               peer_sweep_s=peer_sweep_s,
                               command=portable_command("bench", sys.argv[2:])))


def _ints(spec: str) -> list[int]:
    return [int(x) for x in spec.split(",")]


def _emit(row: dict) -> None:
    typer.echo(json.dumps(row))


@scale_app.command("index")
def scale_index(sizes: str = "100000,1000000", nq: int = 1000, k: int = 100, efs: str = "64,100,128,192,256",
                factory: str | None = None, build_threads: int = 2, out: Path = Path("reports/bundle/scale.json")):
    """Build time/memory, recall@k vs exact and one-thread query latency on synthetic unit vectors."""
    from load_tests.bench.index_scale import index_scale

    index_scale(_ints(sizes), nq, k, _ints(efs), factory, build_threads, out,
                portable_command("scale-bench", sys.argv[2:]), _emit)


@scale_app.command("encode")
def scale_encode(model: Path = typer.Option(...), n: int = 512, batch_size: int = 64, threads: str = "1,2",
                 out: Path = Path("reports/bundle/scale.json")):
    """Ads/s of the exported ad tower, fp32 and int8, at the given ONNX Runtime thread counts."""
    from load_tests.bench.index_scale import encode_scale

    encode_scale(model, n, batch_size, _ints(threads), out, portable_command("scale-bench", sys.argv[2:]),
                 _emit)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.add_typer(scale_app, name="scale-bench")
