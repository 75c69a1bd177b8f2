"""`twinrank export`, `twinrank index build|update`, `twinrank bundle validate|rollback` (`offline.export`,
`offline.publish`). Heavy imports (torch, onnxruntime, faiss) happen inside the commands; expected failures
exit with `ExitCode.FAILED`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import typer

from cli.engine import check_engine
from cli.errors import OFFLINE_ERRORS, ExitCode, one_line_errors
from offline.publish.bundle_writer import DEFAULT_KEEP

index_app = typer.Typer(no_args_is_help=True, help="Encode an ad catalog and publish FAISS index bundles.")
bundle_app = typer.Typer(no_args_is_help=True, help="Check and manage published bundles.")


# A writer on a host that also serves is batch work: at nice 10 it takes the CPU /rank leaves idle instead of
# competing with it (on two cores an `index update` at nice 0 raised the serving p99 6× while it ran).
WRITER_NICE = 10
WRITER_NICE_ENV = "TWINRANK_WRITER_NICE"  # the tests set 0: an in-process command would nice the test runner's thread


def _setup(threads: int, nice: int = 0) -> None:
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("offline").setLevel(logging.INFO)  # ours at INFO; ORT's quantiser and faiss stay quiet
    with contextlib.suppress(ImportError):
        import faiss

        faiss.omp_set_num_threads(threads)


def export(
    run: Path = typer.Option(..., "--run", help="TwinBERT checkpoint dir, or a run dir with student_kd/"),
    out: Path = typer.Option(..., "--out", help="model directory to write (e.g. models/de)"),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="also write int8 (dynamic quantised) towers"),
    force: bool = typer.Option(False, "--force", help="replace an existing model directory"),
    eval_qadsm: Path | None = typer.Option(None, "--eval-qadsm", help="QADSM TSV to score fp32 vs int8 (AUC)"),
    eval_limit: int | None = typer.Option(None, "--eval-limit", help="score only the first N pairs"),
    threads: int = typer.Option(2, "--threads", help="ONNX Runtime threads for the evaluation"),
    vocab_from: str | None = typer.Option(None, "--vocab-from", help="trim the vocabulary to the pieces this "
                                          "QADSM directory's train split uses (plus --word-list); never dev/test"),
    word_list: Path | None = typer.Option(None, "--word-list", help="one word per line, its pieces kept too "
                                          "(Debian's wngerman: /usr/share/dict/ngerman)"),
    fp32: bool = typer.Option(True, "--fp32/--no-fp32", help="keep the fp32 towers (--no-fp32: int8 only)"),
) -> None:
    """Export query tower, ad tower and res head to ONNX (+ int8), with a built-in parity check; optionally with
    the vocabulary trimmed to one language's pieces."""
    _setup(threads)
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        import tempfile

        from offline.export.model_dir import export_model, load_run

        if eval_qadsm is not None and not eval_qadsm.is_file():
            raise FileNotFoundError(f"{eval_qadsm}: no such file")
        if word_list is not None and vocab_from is None:
            raise ValueError("--word-list only takes effect with --vocab-from")
        model, calibration, metrics = load_run(run)
        with tempfile.TemporaryDirectory(prefix="twinrank-vocab-") as vocab_dir:
            if vocab_from is not None:
                from offline.export.vocab_trim import training_texts, trim_for_texts

                model, plan = trim_for_texts(model, training_texts(model, vocab_from, word_list), Path(vocab_dir))
                typer.echo(f"vocabulary trimmed: {plan.size} of {plan.original_size} pieces kept")
            path = export_model(model, out, calibration=calibration, int8=int8, metrics=metrics, force=force,
                                keep_fp32=fp32)
        info = json.loads((path / "model.json").read_text())
        typer.echo(f"exported {path} (parity max abs diff {info['parity_max_abs_diff']})")
        if eval_qadsm is not None:
            from offline.export.quality import evaluate_model_dir, write_export_report

            report = evaluate_model_dir(path, eval_qadsm, eval_limit, threads)
            typer.echo(f"wrote {write_export_report(path, report)}: {json.dumps(report)}")


@index_app.command("build")
def index_build(
    model: Path | None = typer.Option(None, "--model", help="model directory from `twinrank export` "
                                      "(default: the shipped student, shipped/twinbert-de)"),
    catalog: str = typer.Option(..., "--catalog", help="ads as .jsonl, .csv or .parquet; with --engine ray also a "
                                "directory of shards, a comma-separated list, or a filesystem URI (s3://, gs://)"),
    bundles: Path = typer.Option(..., "--bundles", help="bundle root (holds versions and CURRENT)"),
    factory: str | None = typer.Option(None, "--factory", help="FAISS factory (default: Flat / HNSW32,SQ8 by size)"),
    vectors: str = typer.Option("float32", "--vectors", help="stored ad vectors: float32 or int8"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or gpu (the stored index is always CPU)"),
    keep: int = typer.Option(DEFAULT_KEEP, "--keep", min=1, help="versions to keep"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: int = typer.Option(2, "--threads", min=1, help="ONNX Runtime / FAISS threads"),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (Ray Data actors)"),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (default: start a "
                                           "local Ray on this machine)"),
    actors: int = typer.Option(1, "--actors", min=1, help="--engine ray: encoder actors"),
    threads_per_actor: int = typer.Option(1, "--threads-per-actor", min=1, help="--engine ray: ONNX Runtime "
                                          "threads (and CPUs reserved) per actor"),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="--engine ray: where encoded shards and the "
                                         "resume manifest go (default: <bundles>/.encode-<encoder digest>)"),
    force: bool = typer.Option(False, "--force", help="publish even if another writer switched CURRENT while this "
                               "build ran (its changes are then replaced); without it such a build exits 3"),
    nice: int = typer.Option(WRITER_NICE, "--nice", min=0, max=19, envvar=WRITER_NICE_ENV, help="lower this "
                             "writer's CPU priority by N so a writer on a serving host yields to /rank (0: leave it "
                             "as started)"),
) -> None:
    """Encode the catalog, build the index and publish a new bundle version atomically. It replaces the version
    CURRENT named when it started: if another writer switched CURRENT meanwhile, nothing is published (exit 3)."""
    _setup(threads, nice)
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.export.shipped import model_or_shipped

        model = model_or_shipped(model)
        if vectors not in ("float32", "int8"):
            raise ValueError(f"--vectors must be float32 or int8 (got {vectors!r})")
        check_engine(engine, ray_address)
        if engine == "ray":
            from offline.publish.ray_build import build_bundle_ray
            from offline.ray_cluster import start_ray

            start_ray(ray_address)
            version = build_bundle_ray(model, catalog, bundles, factory=factory, vectors_dtype=vectors,
                                       device=device, keep=keep, actors=actors, threads_per_actor=threads_per_actor,
                                       batch_size=batch_size, work_dir=work_dir, force=force)
        else:
            from offline.publish.index_build import build_bundle

            version = build_bundle(model, Path(catalog), bundles, factory=factory, vectors_dtype=vectors,
                                   device=device, keep=keep, batch_size=batch_size, threads=threads, force=force)
        typer.echo(f"published {version} (CURRENT → {version.name})")


@index_app.command("update")
def index_update(
    bundles: Path = typer.Option(..., "--bundles", help="bundle root (holds versions and CURRENT)"),
    upsert: Path | None = typer.Option(None, "--upsert", help="new or changed ads (.jsonl, .csv, .parquet)"),
    delete: Path | None = typer.Option(None, "--delete", help="ad ids to drop, one per line"),
    factory: str | None = typer.Option(None, "--factory"),
    device: str = typer.Option("auto", "--device"),
    keep: int = typer.Option(DEFAULT_KEEP, "--keep", min=1),
    threads: int = typer.Option(2, "--threads", min=1),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (encoding on Ray actors)"),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (default: local Ray)"),
    actors: int = typer.Option(1, "--actors", min=1, help="--engine ray: encoder actors"),
    threads_per_actor: int = typer.Option(1, "--threads-per-actor", min=1, help="--engine ray: threads per actor"),
    nice: int = typer.Option(WRITER_NICE, "--nice", min=0, max=19, envvar=WRITER_NICE_ENV, help="lower this "
                             "writer's CPU priority by N so a writer on a serving host yields to /rank (0: leave it "
                             "as started)"),
) -> None:
    """A new version from CURRENT: re-encode only new or changed ads, drop deleted ones. If another writer
    switches CURRENT meanwhile, the changes are re-applied onto the new one (exit 3 if that keeps failing)."""
    _setup(threads, nice)
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.publish.update import update_bundle

        if upsert is None and delete is None:
            raise ValueError("nothing to do: pass --upsert and/or --delete")
        check_engine(engine, ray_address)
        tower_factory = None
        if engine == "ray":
            from offline.publish.ray_tower import RayAdTower
            from offline.ray_cluster import start_ray

            start_ray(ray_address)

            def tower_factory(version_dir, manifest):  # a rebase onto another encoder gets its own actors
                return RayAdTower(version_dir, manifest, actors, threads_per_actor)
        r = update_bundle(bundles, upsert, delete, factory=factory, device=device, keep=keep, threads=threads,
                          tower_factory=tower_factory)
        typer.echo(f"published {r.version_dir} ({r.n_ads} ads: {r.n_reused} vectors reused, {r.n_encoded} encoded, "
                   f"{r.n_deleted} deleted, {len(r.unknown_deletes)} unknown delete ids"
                   + (f", rebased {r.n_rebases}× onto a newer CURRENT" if r.n_rebases else "") + ")")


@bundle_app.command("validate")
def bundle_validate(
    path: Path = typer.Argument(..., help="a version directory or a bundle root (checks CURRENT)"),
    smoke: bool = typer.Option(True, "--smoke/--no-smoke", help="run a test query through the bundle"),
) -> None:
    """Check checksums, dimensions, ids and run a test query; refuses a damaged bundle naming the file."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from service.bundle import resolve
        from service.runtime.bundle_check import smoke_test, verify_bundle


        version = resolve(path)
        manifest = verify_bundle(version)
        summary = smoke_test(version, manifest) if smoke else {}
        typer.echo(f"ok {version} ({manifest.index.n_ads} ads, {manifest.index.factory}, dim {manifest.model.dim})"
                   + (f" test query top: {summary.get('top_ids', [])[:3]}" if smoke else ""))


@bundle_app.command("rollback")
def bundle_rollback(
    bundles: Path = typer.Option(..., "--bundles", help="bundle root"),
    from_version: str | None = typer.Option(None, "--from", help="roll back only if CURRENT still names this "
                                            "version (full name or vNNNNNN); otherwise exit 3, nothing changed"),
) -> None:
    """Point CURRENT back to the previous valid version (of the one CURRENT names at that moment; with --from,
    only if that is the version you mean to undo)."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.publish.bundle_writer import rollback_switch

        before, after = rollback_switch(bundles, expect_current=from_version)
        typer.echo(f"CURRENT {before} → {after}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`. Heavy imports (torch, onnxruntime, ...) go inside the commands."""
    app.command("export")(export)
    app.add_typer(index_app, name="index")
    app.add_typer(bundle_app, name="bundle")
