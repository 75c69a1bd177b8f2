"""`index build|update --engine ray` against the single-process path: the same vectors (≤ 1e-6) and the same
bundle contents but for timestamps; resuming after a cut-off; one-line errors. One local Ray (2 CPUs) for the
module, real ONNX Runtime actors, real FAISS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from offline.errors import CatalogError
from offline.export.model_dir import read_model_dir
from offline.publish.index_build import build_bundle
from offline.publish.ray_build import build_bundle_ray
from offline.publish.ray_encode import encode_catalog_ray
from service.bundle import MANIFEST_NAME, VECTORS_FILE, current_version_dir, read_current
from tests.utils.bundles import catalog_rows, private_copy, write_jsonl
from tests.utils.cli import assert_one_line_error

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
ROWS = catalog_rows(150, seed=3)
TIMESTAMP_KEYS = {"bundle_version", "created_at"}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    from offline.ray_cluster import start_ray

    start_ray(None, num_cpus=2)
    yield
    ray.shutdown()


def _shards(d: Path, rows: list[dict], parts: int = 3) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    step = -(-len(rows) // parts)
    for i in range(parts):
        write_jsonl(d / f"part-{i}.jsonl", rows[i * step:(i + 1) * step])
    return d


def _manifest(version: Path) -> dict:
    m = json.loads((version / MANIFEST_NAME).read_text())
    return {k: v for k, v in m.items() if k not in TIMESTAMP_KEYS}


def test_ray_build_matches_the_single_process_build(model_dir: Path, tmp_path: Path) -> None:
    single = build_bundle(model_dir, write_jsonl(tmp_path / "all.jsonl", ROWS), tmp_path / "a", progress=False)
    distributed = build_bundle_ray(model_dir, str(_shards(tmp_path / "shards", ROWS)), tmp_path / "b",
                                   progress=False)
    va, vb = np.load(single / VECTORS_FILE), np.load(distributed / VECTORS_FILE)
    assert va.shape == vb.shape == (150, 16)
    assert float(np.max(np.abs(va - vb))) <= 1e-6
    assert pq.read_table(single / "ads.parquet").equals(pq.read_table(distributed / "ads.parquet"))
    ma, mb = _manifest(single), _manifest(distributed)
    files_a, files_b = ma.pop("files"), mb.pop("files")
    assert ma == mb  # model, encoders, heads, calibration, index kind and parameters
    assert files_a.keys() == files_b.keys()
    same = {n for n in files_a if files_a[n] == files_b[n]}
    # everything but the vectors and the index built from them is byte-identical; those two only differ when
    # ONNX Runtime's float results differ in the last bit between batch shapes (bounded above)
    assert set(files_a) - same <= {VECTORS_FILE, "ads.faiss"}, set(files_a) - same
    assert read_current(tmp_path / "b") == distributed.name
    assert not any(p.name.startswith(".encode-") for p in (tmp_path / "b").iterdir())  # work dir removed


def test_a_cut_off_encode_resumes_without_redoing_finished_shards(model_dir: Path, tmp_path: Path) -> None:
    info = read_model_dir(model_dir)
    shards = _shards(tmp_path / "shards", ROWS)
    work = tmp_path / "work"
    first_two = ",".join(str(shards / f"part-{i}.jsonl") for i in range(2))
    cut = encode_catalog_ray(model_dir, info, first_two, work, progress=False)  # as if stopped after 2 of 3
    assert (cut.n_encoded_now, cut.n_reused) == (100, 0)
    resumed = encode_catalog_ray(model_dir, info, str(shards), work, progress=False)
    assert (resumed.n_encoded_now, resumed.n_reused, resumed.n_ads) == (50, 100, 150)
    write_jsonl(shards / "part-1.jsonl", ROWS[50:99])  # an edited shard is encoded again
    again = encode_catalog_ray(model_dir, info, str(shards), work, progress=False)
    assert (again.n_encoded_now, again.n_reused, again.n_ads) == (49, 100, 149)


def test_cli_build_and_update_on_ray(built_root: Path, model_dir: Path, tmp_path: Path) -> None:
    root = private_copy(built_root, tmp_path)
    before = read_current(root)
    r = runner.invoke(app, ["index", "build", "--engine", "ray", "--actors", "1", "--threads-per-actor", "1",
                            "--model", str(model_dir), "--catalog", str(_shards(tmp_path / "s", ROWS[:60])),
                            "--bundles", str(root)])
    assert r.exit_code == 0, r.output
    assert read_current(root) != before
    upsert = write_jsonl(tmp_path / "up.jsonl", catalog_rows(5, seed=9, prefix="new"))
    local_root = private_copy(root, tmp_path / "copy")
    r = runner.invoke(app, ["index", "update", "--engine", "ray", "--bundles", str(root), "--upsert", str(upsert)])
    assert r.exit_code == 0 and "5 encoded" in r.output, r.output
    r = runner.invoke(app, ["index", "update", "--bundles", str(local_root), "--upsert", str(upsert)])
    assert r.exit_code == 0, r.output
    va = np.load(current_version_dir(root) / VECTORS_FILE)
    vb = np.load(current_version_dir(local_root) / VECTORS_FILE)
    assert va.shape == vb.shape == (65, 16) and float(np.max(np.abs(va - vb))) <= 1e-6


def test_ray_errors_name_the_shard_and_the_ad(root: Path, model_dir: Path, tmp_path: Path) -> None:
    rows = catalog_rows(20)
    rows[7]["p_click"] = 3.0
    bad = _shards(tmp_path / "bad", rows, parts=2)
    with pytest.raises(CatalogError) as e:
        build_bundle_ray(model_dir, str(bad), root, progress=False)
    assert "part-0.jsonl: ad 'ad0007': column 'p_click'" in str(e.value) and "\n" not in str(e.value)
    dup = _shards(tmp_path / "dup", catalog_rows(10) + catalog_rows(10)[:1], parts=2)
    with pytest.raises(CatalogError, match="part-1.jsonl: column 'ad_id': duplicate id 'ad0000'"):
        build_bundle_ray(model_dir, str(dup), root, progress=False)


def test_cli_refuses_before_starting_work(root: Path, model_dir: Path, tmp_path: Path) -> None:
    shards = str(_shards(tmp_path / "s", catalog_rows(4), parts=1))
    base = ["index", "build", "--model", str(model_dir), "--bundles", str(root)]
    r = runner.invoke(app, [*base, "--engine", "ray", "--catalog", str(tmp_path / "nope")])
    assert_one_line_error(r, "nope", "no such file")
    r = runner.invoke(app, [*base, "--engine", "ray", "--actors", "2", "--catalog", shards])
    assert_one_line_error(r, "no CPU for reading")  # 2 actors on 2 CPUs would wait for ever
    assert_one_line_error(runner.invoke(app, [*base, "--engine", "spark", "--catalog", shards]), "--engine")
    assert_one_line_error(runner.invoke(app, [*base, "--ray-address", "x:1", "--catalog", shards]), "--engine ray")
