"""`twinrank index build|update`, `bundle validate|rollback`: results, and one-line errors (no traceback)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from service.bundle import read_current, version_dirs
from tests.utils.bundles import catalog_rows, write_jsonl
from tests.utils.cli import assert_one_line_error

runner = CliRunner()


def test_build_update_validate_rollback(root: Path, model_dir: Path, catalog: Path, tmp_path: Path) -> None:
    first = read_current(root)
    r = runner.invoke(app, ["index", "build", "--model", str(model_dir), "--catalog", str(catalog),
                            "--bundles", str(root), "--threads", "1"])
    assert r.exit_code == 0, r.output
    second = read_current(root)
    assert second != first and "published" in r.output
    (tmp_path / "del.txt").write_text("ad0005\n")
    r = runner.invoke(app, ["index", "update", "--bundles", str(root), "--delete", str(tmp_path / "del.txt")])
    assert r.exit_code == 0 and "0 encoded" in r.output and "1 deleted" in r.output, r.output
    r = runner.invoke(app, ["bundle", "validate", str(root)])
    assert r.exit_code == 0 and r.output.startswith("ok "), r.output
    r = runner.invoke(app, ["bundle", "rollback", "--bundles", str(root)])
    assert r.exit_code == 0 and read_current(root) == second
    assert len(version_dirs(root)) == 3


def test_cli_errors_are_one_line(root: Path, model_dir: Path, tmp_path: Path) -> None:
    rows = catalog_rows(5)
    rows[2]["bid"] = -1
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    r = runner.invoke(app, ["index", "build", "--model", str(model_dir), "--catalog", str(bad), "--bundles",
                            str(root)])
    assert_one_line_error(r, "row 3", "bid")
    r = runner.invoke(app, ["index", "build", "--model", str(tmp_path), "--catalog", str(bad), "--bundles",
                            str(root)])
    assert_one_line_error(r, "model.json")
    v = version_dirs(root)[-1]
    (v / "ads.faiss").write_bytes(b"x")
    assert_one_line_error(runner.invoke(app, ["bundle", "validate", str(v)]), "ads.faiss")
    assert_one_line_error(runner.invoke(app, ["bundle", "rollback", "--bundles", str(root)]), "roll back")
    assert_one_line_error(runner.invoke(app, ["index", "update", "--bundles", str(root)]), "nothing to do")
    assert_one_line_error(runner.invoke(app, ["export", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]),
                    "twinbert.json")


def test_index_build_without_model_takes_the_shipped_student(model_dir: Path, catalog: Path, tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.setenv("TWINRANK_MODEL", str(model_dir))  # stands in for shipped/twinbert-de, which is larger
    r = runner.invoke(app, ["index", "build", "--catalog", str(catalog), "--bundles", str(tmp_path / "b"),
                            "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert read_current(tmp_path / "b") is not None
    monkeypatch.setenv("TWINRANK_MODEL", str(tmp_path / "no-model"))
    r = runner.invoke(app, ["index", "build", "--catalog", str(catalog), "--bundles", str(tmp_path / "c")])
    assert_one_line_error(r, "no shipped student", "--model")


def test_evaluate_refuses_bad_options_in_one_line(model_dir: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(tmp_path), "--split", "train"])
    assert_one_line_error(r, "--split")
    r = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(tmp_path / "nope")])
    assert_one_line_error(r, "nope")
    r = runner.invoke(app, ["evaluate", "--model", str(tmp_path), "--data", str(tmp_path)])
    assert_one_line_error(r, "model.json")


def _write_qadsm_split(path: Path, seed: int) -> None:
    """A made-up QADSM-format split: each query's own words make its Good ad, another query's its Bad one."""
    import random

    from tests.utils.bundles import WORDS

    rnd = random.Random(seed)
    lines = []
    for _ in range(30):
        q, other = rnd.sample(WORDS, 2), rnd.sample(WORDS, 2)
        lines.append(f"{' '.join(q)}\t{q[0]} {q[1]} shop\t{' '.join(q)} online\tGood")
        lines.append(f"{' '.join(q)}\t{other[0]} {other[1]}\t{' '.join(other)} kaufen\tBad")
    path.write_text("\n".join(lines) + "\n")


def test_evaluate_scores_an_export_and_records_the_figures_in_its_model_json(model_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from offline.data.qadsm import read_split
    from offline.evaluation.exported import ExportedStudent
    from offline.export.model_dir import read_model_dir

    data = tmp_path / "qadsm"
    data.mkdir()
    _write_qadsm_split(data / "dev.txt", 1)
    _write_qadsm_split(data / "test.txt", 2)
    model = shutil.copytree(model_dir, tmp_path / "model")
    files_before = read_model_dir(model)["files"]
    r = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "rep"),
                            "--record"])
    assert r.exit_code == 0, r.output
    recorded = read_model_dir(model)["metrics"]["qadsm_test"]  # digests still match: only model.json changed
    assert read_model_dir(model)["files"] == files_before
    test = read_split(data, "test")
    expected = roc_auc_score(test.label, ExportedStudent(model).logits(test))
    assert recorded["roc_auc"] == json.loads((tmp_path / "rep" / "evaluate.json").read_text())["roc_auc"]
    assert np.isclose(recorded["roc_auc"], expected, atol=1e-6)
    assert f"{expected:.4f}" in r.output and recorded["head"] in ("cos", "res")
