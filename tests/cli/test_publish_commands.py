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
