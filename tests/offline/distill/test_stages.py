"""End to end: `twinrank distill` on tiny self-made data and a tiny base encoder runs every stage, writes
the report with the promised keys, and resumes (skips finished stages) on a second call."""

import json

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.utils.tiny_qadsm import TINY_TEACHER_CONFIG, make_data


def test_distill_runs_all_stages_and_resumes(tmp_path, tiny_base_dir):
    data = tmp_path / "data"
    data.mkdir()
    make_data(data)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TEACHER_CONFIG.format(base=tiny_base_dir) + """[student]
query_layers = 2
ad_layers = 4
proj_dim = 16
distill_epochs = 1
finetune_epochs = 1
[baselines]
labels_epochs = 1
labels_both_epochs = 1
cdssm_epochs = 1
[eval]
bootstrap = 20
""")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["distill", "--data", str(data), "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    for name in ("teacher", "student_kd", "student_labels", "student_labels_both", "cdssm", "zero_shot", "tfidf"):
        m = metrics["models"][name]
        for key in ("roc_auc", "roc_auc_ci", "pr_auc", "accuracy", "ndcg_at_5"):
            assert key in m, (name, key)
        assert 0.0 <= m["roc_auc"] <= 1.0
    assert {"before", "after"} <= set(metrics["ece"])
    # gain kept is against the labels-only student with the best dev ROC-AUC, and listed against each
    baselines = ("student_labels", "student_labels_both")
    strongest = max(baselines, key=lambda n: metrics["models"][n]["dev_roc_auc"])
    assert metrics["gain_kept_baseline"] == strongest
    assert set(metrics["gain_kept_vs"]) == set(baselines)
    assert metrics["gain_kept"] == metrics["gain_kept_vs"][strongest]
    assert f"serving cost on dev, {strongest}" in (out / "report" / "report.md").read_text()
    assert (out / "report" / "roc.png").stat().st_size > 1000
    assert (out / "student_kd" / "twinbert.json").exists()
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["kind"] == "platt" and cal["head"] in ("cos", "res")
    # the pool never holds test pairs
    import pandas as pd

    table = pd.read_parquet(out / "score" / "pairs.parquet")
    pool_pairs = set(zip(table[table.split == "pool"]["query"], table[table.split == "pool"]["title"], strict=True))
    test_queries = set(table[table.split == "test"]["query"]) - set(table[table.split == "train"]["query"])
    assert not any(q in test_queries for q, _ in pool_pairs)
    assert len(table[table.split == "pool"]) > 0
    score_info = json.loads((out / "score" / "done.json").read_text())
    assert score_info["teacher"] in ("bi", "cross", "ensemble")
    assert {"teacher_bi", "teacher_cross", "teacher_ensemble"} <= set(score_info["teacher_dev_auc"])
    assert {"teacher_bi_logit", "teacher_cross_logit"} <= set(table.columns)
    assert {"teacher_bi", "teacher_cross"} <= set(metrics["models"])
    assert "chosen on dev" in (out / "report" / "report.md").read_text()

    # predictions.parquet (no texts) recomputes every reported figure
    from sklearn.metrics import roc_auc_score

    from offline.evaluation.evaluate import evaluate_predictions
    from offline.evaluation.predictions_file import read_predictions

    predictions = pd.read_parquet(out / "report" / "predictions.parquet")
    assert {"split", "row", "label", "query_group", "student_kd", "teacher"} <= set(predictions.columns)
    assert not any(predictions[c].dtype == object for c in predictions.columns if c != "split")
    e = json.loads((out / "config.json").read_text())["eval"]
    recomputed = evaluate_predictions(read_predictions(out / "report" / "predictions.parquet"), e["bootstrap"],
                                      e["ndcg_k"], e["density_top"])
    for name, m in metrics["models"].items():
        for key in ("roc_auc", "roc_auc_ci", "accuracy", "threshold_from_dev", "ndcg_at_5", "label_density"):
            assert recomputed["models"][name][key] == pytest.approx(m[key], abs=1e-9), (name, key)
    assert recomputed["gain_kept"] == pytest.approx(metrics["gain_kept"], abs=1e-9)

    # `twinrank report` rewrites the report from the predictions alone, adding a model from its checkpoint: the
    # labels-only two-tower student added again under another name scores what the evaluate stage gave it
    rewritten = runner.invoke(app, ["report", "--report", str(out / "report"), "--data", str(data), "--add",
                                    f"again={out / 'labels_both' / 'student_labels_both'}"])
    assert rewritten.exit_code == 0, rewritten.output
    again_metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert again_metrics["models"]["again"]["roc_auc"] == pytest.approx(
        metrics["models"]["student_labels_both"]["roc_auc"], abs=1e-6)
    assert again_metrics["gain_kept"] == pytest.approx(metrics["gain_kept"], abs=1e-9)
    assert "again" in set(pd.read_parquet(out / "report" / "predictions.parquet").columns)
    alone = runner.invoke(app, ["predict", "--checkpoint", str(out / "labels_both" / "student_labels_both"),
                                "--data", str(data), "--name", "both", "--out", str(tmp_path / "both.parquet")])
    assert alone.exit_code == 0, alone.output
    both = read_predictions(tmp_path / "both.parquet")
    assert set(both.scores) == {"both"}
    assert roc_auc_score(both.labels["test"], both.scores["both"]["test"]) == pytest.approx(
        metrics["models"]["student_labels_both"]["roc_auc"], abs=1e-6)
    bad = runner.invoke(app, ["report", "--report", str(out / "report"), "--data", str(data), "--add", "x=nowhere"])
    assert bad.exit_code != 0 and "expected NAME=CHECKPOINT" in bad.output and "Traceback" not in bad.output

    # the run is what `twinrank export` takes: checkpoint, calibration and metrics
    from offline.export.model_dir import export_model, load_run

    model, calibration, run_metrics = load_run(out)
    assert calibration is not None and calibration.head == cal["head"]
    assert run_metrics["report_student_kd"]["roc_auc"] == metrics["models"]["student_kd"]["roc_auc"]
    assert run_metrics["gain_kept"] == metrics["gain_kept"] and "models" not in run_metrics  # the student's own
    assert (export_model(model, tmp_path / "exported", calibration, int8=False) / "model.json").exists()

    # `twinrank evaluate` scores the exported files through the service's runtime: the report's student AUC
    scored = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "exported"), "--data", str(data),
                                 "--precision", "fp32", "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    assert "test ROC-AUC" in scored.output
    exported_auc = json.loads((tmp_path / "eval" / "evaluate.json").read_text())["roc_auc"]
    assert exported_auc == pytest.approx(metrics["models"]["student_kd"]["roc_auc"], abs=0.01)

    again = runner.invoke(app, ["distill", "--data", str(data), "--out", str(out), "--config", str(config)])
    assert again.exit_code == 0
    assert "skipped" in again.output

    # a teacher stage cut off after its sub-teachers were trained reuses them instead of training again
    (out / "teacher" / "done.json").unlink()
    trained = {m: (out / "teacher" / m / "info.json").stat().st_mtime_ns for m in ("bi", "cross")}
    resumed = runner.invoke(app, ["distill", "--data", str(data), "--out", str(out), "--config", str(config),
                                  "--only", "teacher"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "teacher" / "done.json").read_text())["cross"]["dev_auc"] is not None
    assert trained == {m: (out / "teacher" / m / "info.json").stat().st_mtime_ns for m in ("bi", "cross")}


def test_missing_data_dir_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["distill", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "has no train.txt" in result.output
    assert "Traceback" not in result.output


def _distill_with_config(tmp_path, config_text: str):
    """`twinrank distill` over a one-row train split with this config; its result."""
    (tmp_path / "train.txt").write_text("q\tt\td\tGood\n")
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    return CliRunner().invoke(app, ["distill", "--data", str(tmp_path), "--config", str(config),
                                    "--out", str(tmp_path / "r")])


def test_bad_config_is_refused(tmp_path):
    result = _distill_with_config(tmp_path, "[student]\nunknown_knob = 3\n")
    assert result.exit_code != 0
    assert "invalid config" in result.output


def test_a_cross_encoder_alone_is_refused_as_a_teacher(tmp_path):
    """The student learns from the bi-encoder's pooled vectors: a cross-encoder teaches only in the ensemble."""
    result = _distill_with_config(tmp_path, '[teacher]\nkind = "cross"\n')
    assert result.exit_code != 0 and "teacher.kind" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
