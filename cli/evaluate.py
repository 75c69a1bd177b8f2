"""`twinrank evaluate`: score an exported (ONNX) student on a QADSM split through the service's runtime, and
optionally compare it with another export (e.g. trimmed vs untrimmed vocabulary)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import OFFLINE_ERRORS, ExitCode, one_line_errors


def evaluate(
    model: Path | None = typer.Option(None, "--model", help="model directory from `twinrank export` "
                                      "(default: the shipped student)"),
    data: str = typer.Option(..., "--data", help="QADSM directory with dev.txt and the split (dev picks the "
                             "accuracy threshold)"),
    split: str = typer.Option("test", "--split", help="split to score: test or dev"),
    precision: str = typer.Option("int8", "--precision", help="towers to run: int8 or fp32 (falls back to what "
                                  "the export has)"),
    baseline: Path | None = typer.Option(None, "--baseline", help="another export to compare with (ROC-AUC loss, "
                                         "sizes, tokens that tokenize differently)"),
    out: Path | None = typer.Option(None, "--out", help="write evaluate.json (and evaluate.md with --baseline)"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="score only the first N rows of each split"),
    threads: int = typer.Option(2, "--threads", min=1, help="ONNX Runtime threads"),
    record: bool = typer.Option(False, "--record", help="also write the figures into the model's model.json "
                                "(metrics.qadsm_<split>), so the model carries what was measured on it"),
) -> None:
    """ROC-AUC (95 % bootstrap CI), accuracy at the dev threshold, nDCG@5 and ECE of an exported student."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.export.shipped import model_or_shipped

        if split not in ("test", "dev"):
            raise ValueError(f"--split must be test or dev (got {split!r})")
        if precision not in ("int8", "fp32"):
            raise ValueError(f"--precision must be int8 or fp32 (got {precision!r})")
        model = model_or_shipped(model)
        if baseline is not None:
            from offline.export.trim_report import compare_to_baseline, comparison_markdown

            result = compare_to_baseline(model, baseline, data, split, threads, limit)
            lines = [_line(result["model"]), _line(result["baseline"]),
                     f"ROC-AUC loss vs baseline {result['roc_auc_loss']:+.4f}; pieces {result['pieces']['kept']} of "
                     f"{result['pieces']['original']}; tokens changed {result['tokens']['changed_share']:.2%}; "
                     f"size {result['size_mb']['model']:.1f} MB vs {result['size_mb']['baseline']:.1f} MB"]
        else:
            from offline.evaluation.exported import evaluate_exported

            result = evaluate_exported(model, data, split, precision, threads, limit=limit)
            lines = [_line(result)]
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "evaluate.json").write_text(json.dumps(result, indent=2) + "\n")
            if baseline is not None:
                (out / "evaluate.md").write_text(comparison_markdown(result))
        if record:
            from offline.export.model_dir import record_metrics

            record_metrics(model, f"qadsm_{split}", recorded_figures(result, out))
        for line in lines:
            typer.echo(line)


def recorded_figures(result: dict, out: Path | None) -> dict:
    """What `--record` writes into model.json: the model's own figures, and the trimming loss when compared."""
    m = result["model"] if isinstance(result.get("model"), dict) else result  # with --baseline: both nested
    keep = ("roc_auc", "roc_auc_ci", "accuracy", "ndcg_at_5", "ece", "dev_roc_auc", "rows", "precision", "head")
    figures = {k: m[k] for k in keep if k in m}
    if "roc_auc_loss" in result:
        figures["vs_baseline"] = {"baseline": Path(result["baseline"]["model"]).name,
                                  "roc_auc_loss": result["roc_auc_loss"], "pieces": result["pieces"],
                                  "test_tokens_changed_share": result["tokens"]["changed_share"]}
    figures["source"] = "twinrank evaluate" + (f" (report in {out})" if out and not out.is_absolute() else "")
    return figures


def _line(r: dict) -> str:
    lo, hi = r["roc_auc_ci"]
    return (f"{r['model']}: {r['split']} ROC-AUC {r['roc_auc']:.4f} (95% CI {lo:.4f}-{hi:.4f}), accuracy "
            f"{r['accuracy']:.4f}, nDCG@5 {r['ndcg_at_5']:.4f}, ECE {r['ece']:.4f} ({r['rows']} rows, "
            f"{r['precision']} towers, {r['head']} head)")


def unseen_queries(
    predictions: Path = typer.Option(Path("reports/qadsm-de/predictions.parquet"), "--predictions",
                                     help="predictions.parquet of a distillation report"),
    data: str = typer.Option(..., "--data", help="the QADSM directory the report was made from (train, dev, test)"),
    out: Path | None = typer.Option(None, "--out", help="write unseen_queries.json and unseen_queries.md here "
                                    "(default: beside --predictions)"),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=100, help="query-bootstrap resamples of the interval"),
) -> None:
    """Every model's test ROC-AUC on the rows whose query occurs in neither train nor dev, beside the full split,
    recomputed from a report's predictions (no retraining)."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from common.files import atomic_write, write_json
        from offline.evaluation.recompute import unseen_from_predictions
        from offline.evaluation.unseen_queries import unseen_markdown

        if not predictions.is_file():
            raise FileNotFoundError(f"--predictions: no file at {predictions}")
        figures = unseen_from_predictions(predictions, data, bootstrap)
        figures["command"] = f"twinrank unseen-queries --predictions {predictions} --data <qadsm>/de"
        where = out or predictions.parent
        where.mkdir(parents=True, exist_ok=True)
        write_json(where / "unseen_queries.json", figures)
        atomic_write(where / "unseen_queries.md", unseen_markdown(figures).encode())
        for name, r in sorted(figures["models"].items(), key=lambda kv: -kv[1]["roc_auc_unseen"]):
            typer.echo(f"{name}: unseen {r['roc_auc_unseen']:.4f} (full {r['roc_auc_full']:.4f})")
        typer.echo(f"wrote {where / 'unseen_queries.json'} and unseen_queries.md ({figures['rows']} rows)")


def report(
    report_dir: Path = typer.Option(Path("reports/qadsm-de"), "--report", help="a distillation report directory "
                                    "(metrics.json, config.json, predictions.parquet)"),
    data: str = typer.Option(..., "--data", help="the QADSM directory the report was made from (train, dev, test)"),
    add: list[str] = typer.Option([], "--add", help="NAME=CHECKPOINT: score a TwinBERT checkpoint (e.g. "
                                  "runs/de-ens/labels_both/student_labels_both) on dev and test and add it to the "
                                  "report as NAME (repeatable)"),
) -> None:
    """Recompute a distillation report's metrics.json, report.md and plots from its predictions.parquet (no
    retraining), optionally adding models scored from their checkpoints."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.data.qadsm import read_split
        from offline.evaluation.recompute import rewrite_report
        from offline.evaluation.report import gain_text

        for name in ("metrics.json", "config.json", "predictions.parquet"):
            if not (report_dir / name).is_file():
                raise FileNotFoundError(f"--report: {report_dir} has no {name}")
        checkpoints = {}
        for spec in add:
            name, sep, checkpoint = spec.partition("=")
            if not sep or not name or not Path(checkpoint, "twinbert.json").is_file():
                raise ValueError(f"--add {spec!r}: expected NAME=CHECKPOINT, a TwinBERT checkpoint directory")
            checkpoints[name] = Path(checkpoint)
        splits = {s: read_split(data, s) for s in ("dev", "test")} if checkpoints else {}
        added = {name: _checkpoint_scores(c, splits) for name, c in checkpoints.items()}
        m = rewrite_report(report_dir, data, added)
        typer.echo(f"gain kept {gain_text(m['gain_kept'])} against {m['gain_kept_baseline']} (the strongest on "
                   "dev); " + "; ".join(f"{n} {gain_text(g)}" for n, g in m["gain_kept_vs"].items()))
        typer.echo(f"wrote {report_dir / 'metrics.json'} and report.md")


def predict(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a TwinBERT checkpoint directory (twinbert.json)"),
    data: str = typer.Option(..., "--data", help="QADSM directory with dev.txt and test.txt"),
    name: str = typer.Option(..., "--name", help="the model's column name in the file"),
    out: Path = typer.Option(..., "--out", help="predictions file to write (.parquet; row number → score)"),
) -> None:
    """Score a TwinBERT checkpoint on the dev and test splits (its head chosen on dev) into a predictions file
    keyed by row number, as a report's predictions.parquet is; prints its ROC-AUC on each."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from sklearn.metrics import roc_auc_score

        from offline.data.qadsm import read_split
        from offline.evaluation.evaluate import Predictions
        from offline.evaluation.predictions_file import write_predictions

        if not Path(checkpoint, "twinbert.json").is_file():
            raise FileNotFoundError(f"--checkpoint: {checkpoint} is not a TwinBERT checkpoint (no twinbert.json)")
        splits = {s: read_split(data, s) for s in ("dev", "test")}
        scores = _checkpoint_scores(checkpoint, splits)
        labels = {s: p.label for s, p in splits.items()}
        write_predictions(Predictions({name: scores}, labels, list(splits["test"].query), {}, ""), out,
                          {s: p.query for s, p in splits.items()})
        aucs = {s: roc_auc_score(labels[s], scores[s]) for s in scores}
        typer.echo(f"{name}: dev ROC-AUC {aucs['dev']:.4f}, test ROC-AUC {aucs['test']:.4f}; wrote {out}")


def _checkpoint_scores(checkpoint: Path, splits: dict) -> dict:
    """A TwinBERT checkpoint's scores of each split's pairs, on its head with the better dev ROC-AUC."""
    from models.twinbert import TwinBERT
    from offline.distill.predictions import best_head_scores

    return best_head_scores(TwinBERT.load(checkpoint), splits)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("unseen-queries")(unseen_queries)
    app.command("report")(report)
    app.command("predict")(predict)
