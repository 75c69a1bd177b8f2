"""`twinrank distill --engine ray`: the score stage's teacher passes on Ray actors write the same pairs.parquet
and teacher vectors as the single-process stage (max abs diff ≤ 1e-5), the engine does not enter the stage's
fingerprint (a run switches engines and resumes), and a stage cut off after some shards computes only the rest
when run again. One local Ray (2 CPUs) for the module, a tiny ensemble teacher trained once (bf16 autocast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from offline.distill.config import RunConfig
from offline.distill.encode import TextVectors
from offline.distill.ray_score import RayScoring
from offline.distill.stages import run_all
from tests.utils.tiny_qadsm import TINY_TEACHER_CONFIG, make_data

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
TOLERANCE = 1e-5


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray.data  # noqa: F401  (its loggers take this stderr, not that of a CliRunner call that closes it)

    from offline.ray_cluster import start_ray

    start_ray(None, num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data dir, config file, run dir) of a run whose teacher and score stages ran in this process."""
    root = tmp_path_factory.mktemp("ray-score")
    data = root / "data"
    data.mkdir()
    make_data(data)
    config = root / "tiny.toml"
    config.write_text(TINY_TEACHER_CONFIG.format(base=tiny_base_dir))
    out = root / "local"
    run_all(str(data), out, RunConfig.from_file(config), only=["teacher", "score"])
    return data, config, out


def _copy_teacher(run: Path, to: Path) -> Path:
    shutil.copytree(run / "teacher", to / "teacher")
    return to


def _max_diff(a: Path, b: Path) -> dict[str, float]:
    """Max abs difference of every teacher logit column and the teacher vectors of two score stages (texts,
    pairs and columns must be equal)."""
    ta, tb = pd.read_parquet(a / "score" / "pairs.parquet"), pd.read_parquet(b / "score" / "pairs.parquet")
    assert list(ta.columns) == list(tb.columns)
    logits = [c for c in ta.columns if c.startswith("teacher_")]
    assert {"teacher_logit", "teacher_bi_logit", "teacher_cross_logit"} <= set(logits)
    pd.testing.assert_frame_equal(ta.drop(columns=logits), tb.drop(columns=logits))
    diffs = {c: float(np.max(np.abs(ta[c].to_numpy() - tb[c].to_numpy()))) for c in logits}
    for name in ("teacher_queries", "teacher_ads"):
        va, vb = TextVectors.load(a / "score" / name), TextVectors.load(b / "score" / name)
        assert va.texts == vb.texts
        diffs[name] = float(np.max(np.abs(va.vectors - vb.vectors)))
    return diffs


def _info(run: Path) -> dict:
    return json.loads((run / "score" / "done.json").read_text())


class _Stop(Exception):
    pass


def test_ray_score_matches_the_local_stage_switches_engines_and_resumes(local_run, tmp_path: Path) -> None:
    data, config, local = local_run
    out = tmp_path / "run"
    shutil.copytree(local, out)
    cli = ["distill", "--data", str(data), "--config", str(config), "--out", str(out), "--only", "score"]
    switched = runner.invoke(app, [*cli, "--engine", "ray"])
    assert switched.exit_code == 0, switched.output
    assert "stage score: done" in switched.output and "skipped" in switched.output  # the same fingerprint

    # cut off after 3 of its 6 shards (queries and ads: 1 each; cross-encoder: 1 per split), as a kill would
    shutil.rmtree(out / "score")
    finished: list[str] = []

    def stop_after_three(record: dict) -> None:
        finished.append(record["key"])
        if len(finished) == 3:
            raise _Stop

    with pytest.raises(_Stop):
        run_all(str(data), out, RunConfig.from_file(config), only=["score"],
                engine=RayScoring(progress=False, on_shard=stop_after_three))
    assert not (out / "score" / "done.json").exists()
    assert len(json.loads((out / "score" / "ray-work" / "done.json").read_text())["shards"]) == 3

    r = runner.invoke(app, [*cli, "--engine", "ray", "--actors", "2", "--threads-per-actor", "1"])
    assert r.exit_code == 0, r.output
    info, local_info = _info(out), _info(local)
    assert info["ray_shards"] == {"bi": {"shards_computed": 0, "shards_reused": 2},
                                  "cross": {"shards_computed": 3, "shards_reused": 1}}
    diffs = _max_diff(local, out)
    assert max(diffs.values()) <= TOLERANCE, diffs
    assert info["fingerprint"] == local_info["fingerprint"]
    assert {k: v for k, v in info.items() if k not in ("seconds", "ray_shards")} == \
        {k: v for k, v in local_info.items() if k != "seconds"}
    assert not (out / "score" / "ray-work").exists()


def _usage_error(result, *needles: str) -> None:
    """Exit 2 (a run that could not start) with one `error: …` line naming each of `needles`, no traceback."""
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in result.output, result.output
    for n in needles:
        assert n in last, last


def test_cli_refuses_a_bad_engine_in_one_line(local_run, tmp_path: Path) -> None:
    data, config, local = local_run
    out = _copy_teacher(local, tmp_path / "run")
    base = ["distill", "--data", str(data), "--config", str(config), "--out", str(out), "--only", "score"]
    _usage_error(runner.invoke(app, [*base, "--engine", "spark"]), "--engine must be local or ray")
    _usage_error(runner.invoke(app, [*base, "--ray-address", "x:1"]), "--ray-address needs --engine ray")
    _usage_error(runner.invoke(app, [*base, "--engine", "ray", "--actors", "3"]), "3 actor(s)",
                 "no CPU for the teacher actors")
