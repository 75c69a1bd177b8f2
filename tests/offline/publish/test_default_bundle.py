"""The default bundle builder (with the tiny base in place of e5) and the sample catalog."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from offline.data.catalog import scan_catalog
from offline.data.sample_catalog import sample_ads, write_sample_catalog
from offline.publish import default_bundle
from service.api.app import create_app
from service.bundle import read_current
from service.runtime.bundle_check import verify_bundle
from tests.service.conftest import make_settings


def test_sample_catalog_is_valid_and_deterministic(tmp_path: Path) -> None:
    path = write_sample_catalog(tmp_path / "ads.jsonl", n=300)
    assert scan_catalog(path) == 300  # the offline reader's checks: unique ids, bid ≥ 0, p_click in [0, 1]
    assert sample_ads(50) == sample_ads(50)
    assert all(0 < a["p_click"] < 0.1 and a["bid"] > 0 for a in sample_ads(300))


def test_builds_once_and_serves(tiny_base_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    version_dir = default_bundle.build_default_bundle(root, base=str(tiny_base_dir), n_ads=60, layers=4, query_layers=2)
    m = verify_bundle(version_dir)
    assert read_current(root) == version_dir.name and m.index.n_ads == 60
    assert m.calibration.head == "cos" and m.calibration.kind == "platt"
    assert default_bundle.main(["--bundles", str(root)]) == 0  # present: nothing rebuilt
    assert read_current(root) == version_dir.name
    with TestClient(create_app(make_settings(root))) as c:
        r = c.post("/rank", json={"query": "Laufschuhe für Damen", "top_k": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3
