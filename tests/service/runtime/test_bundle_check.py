"""verify_bundle / smoke_test / resolve on real bundles, and the ways a damaged bundle is refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.bundle import (
    BundleError,
    current_version_dir,
    load_manifest,
    resolve,
    sha256_file,
)
from service.runtime.bundle_check import smoke_test, verify_bundle


def test_built_bundle_verifies_and_answers_a_query(root: Path, catalog: Path) -> None:
    version = resolve(root)
    assert version == current_version_dir(root)
    m = verify_bundle(version)
    assert m.index.n_ads == 60 and m.model.dim == 16 and m.index.factory == "Flat"
    assert m.calibration.kind == "platt" and m.heads.res is not None
    assert m.files["ads.faiss"] == sha256_file(version / "ads.faiss")
    summary = smoke_test(version, m)
    assert len(summary["top_ids"]) == 10 and all(0 < r < 1 for r in summary["relevance"])
    assert summary["stored_vs_fresh_min_cos"] > 0.999
    first = json.loads(catalog.read_text().splitlines()[0])
    import pyarrow.parquet as pq

    table = pq.read_table(version / "ads.parquet")
    assert table.column("ad_id")[0].as_py() == first["ad_id"] and table.num_rows == 60


def test_manifest_copies_model_settings(root: Path, model_dir: Path) -> None:
    m = load_manifest(resolve(root))
    info = json.loads((model_dir / "model.json").read_text())
    assert m.model.ad_max_len == info["ad_max_len"] and m.encoders.query.int8 == "query_encoder.int8.onnx"
    assert m.model.metrics["onnx_parity_max_abs_diff"]["ad"] <= 1e-4


def _expect_refused(version: Path, name: str) -> None:
    with pytest.raises(BundleError) as e:
        verify_bundle(version)
    assert name in str(e.value) and e.value.path is not None and e.value.path.name == name


def test_refuses_corrupted_file(root: Path) -> None:
    v = resolve(root)
    data = bytearray((v / "ads.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (v / "ads.faiss").write_bytes(bytes(data))
    _expect_refused(v, "ads.faiss")


def test_refuses_truncated_file(root: Path) -> None:
    v = resolve(root)
    path = v / "ad_vectors.npy"
    path.write_bytes(path.read_bytes()[:-100])
    _expect_refused(v, "ad_vectors.npy")


def test_refuses_missing_file(root: Path) -> None:
    v = resolve(root)
    (v / "tokenizer.json").unlink()
    _expect_refused(v, "tokenizer.json")


def test_refuses_half_written_dir(root: Path) -> None:
    v = resolve(root)
    (v / "manifest.json").unlink()
    _expect_refused(v, "manifest.json")
    with pytest.raises(BundleError, match="manifest.json"):
        resolve(v)


def test_refuses_wrong_dims(root: Path) -> None:
    """Vectors of another width, with a matching checksum: caught by the dimension check, not the sha."""
    v = resolve(root)
    np.save(v / "ad_vectors.npy", np.zeros((60, 8), dtype=np.float32))
    raw = json.loads((v / "manifest.json").read_text())
    raw["files"]["ad_vectors.npy"] = sha256_file(v / "ad_vectors.npy")
    (v / "manifest.json").write_text(json.dumps(raw))
    _expect_refused(v, "ad_vectors.npy")


def _rewrite_ads_table(v: Path, change) -> None:
    """Rewrite ads.parquet through `change(table) -> table` and re-hash it: only the table checks can refuse it."""
    import pyarrow.parquet as pq

    pq.write_table(change(pq.read_table(v / "ads.parquet")), v / "ads.parquet")
    raw = json.loads((v / "manifest.json").read_text())
    raw["files"]["ads.parquet"] = sha256_file(v / "ads.parquet")
    (v / "manifest.json").write_text(json.dumps(raw))


@pytest.mark.parametrize(("change", "named"), [
    (lambda t: t.drop_columns(["description"]), "lacks column(s) description"),
    (lambda t: t.set_column(t.schema.get_field_index("title"), "title", __import__("pyarrow").array(
        range(t.num_rows))), "column title is int64"),
    (lambda t: t.slice(0, t.num_rows - 1), "59 rows, manifest says n_ads=60"),
])
def test_refuses_an_ad_table_off_the_contract(root: Path, change, named: str) -> None:
    """The texts are checked from the schema (the checksum covers their content); the loader gets only the
    serving columns back."""
    v = resolve(root)
    _rewrite_ads_table(v, change)
    with pytest.raises(BundleError, match=re.escape(named)) as e:
        verify_bundle(v)
    assert e.value.path is not None and e.value.path.name == "ads.parquet"


def test_verification_returns_the_serving_columns(root: Path) -> None:
    from service.bundle import verify_contents

    v = resolve(root)
    columns = verify_contents(v, load_manifest(v))
    assert columns.column_names == ["ad_id", "bid", "p_click"] and columns.num_rows == 60


def test_refuses_manifest_dim_that_disagrees_with_the_index(root: Path) -> None:
    v = resolve(root)
    raw = json.loads((v / "manifest.json").read_text())
    raw["model"]["dim"] = 32
    (v / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"ad_vectors\.npy|ads\.faiss"):
        verify_bundle(v)


def test_refuses_invalid_manifest(root: Path) -> None:
    v = resolve(root)
    (v / "manifest.json").write_text('{"format_version": 1, "bundle_version": ')
    _expect_refused(v, "manifest.json")
    (v / "manifest.json").write_text(json.dumps({"format_version": 2}))
    _expect_refused(v, "manifest.json")


def test_current_pointing_nowhere(root: Path) -> None:
    (root / "CURRENT").write_text("v000099-gone\n")
    with pytest.raises(BundleError, match="CURRENT"):
        resolve(root)
    (root / "CURRENT").write_text("../../etc\n")
    with pytest.raises(BundleError, match="CURRENT"):
        current_version_dir(root)


def test_bundle_side_is_torch_free(root: Path) -> None:
    code = ("import sys; from service.bundle import resolve; "
            "from service.runtime.bundle_check import verify_bundle, smoke_test; "
            f"v = resolve({str(root)!r}); smoke_test(v, verify_bundle(v)); "
            "bad = [m for m in ('torch', 'transformers', 'offline') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
