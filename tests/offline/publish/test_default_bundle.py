"""The default bundle builder (a tiny exported student in place of the shipped one) and the sample catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from offline.data.catalog import scan_catalog
from offline.data.sample_catalog import CATEGORIES, sample_ads, write_sample_catalog
from offline.publish import default_bundle
from service.api.app import create_app
from service.bundle import read_current
from service.runtime.bundle_check import verify_bundle
from tests.service.conftest import make_settings


def test_sample_catalog_is_valid_deterministic_and_spread_over_categories(tmp_path: Path) -> None:
    path = write_sample_catalog(tmp_path / "ads.jsonl", n=3000)
    assert scan_catalog(path) == 3000  # the offline reader's checks: unique ids, bid ≥ 0, p_click in [0, 1]
    ads = sample_ads(3000)
    assert sample_ads(50) == sample_ads(50)
    assert all(0 < a["p_click"] < 0.1 and a["bid"] > 0 for a in ads)
    assert len({(a["title"], a["description"]) for a in ads}) == 3000
    per_category = {c.nouns[0]: 0 for c in CATEGORIES}
    for a in ads:
        per_category[a["category"]] += 1
    assert len(CATEGORIES) >= 60 and min(per_category.values()) >= 3000 // len(CATEGORIES)


def test_builds_once_from_the_models_own_calibration_and_serves(model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    version_dir = default_bundle.build_default_bundle(root, model_dir, n_ads=60, threads=1)
    m = verify_bundle(version_dir)
    assert read_current(root) == version_dir.name and m.index.n_ads == 60
    exported = json.loads((model_dir / "model.json").read_text())["calibration"]
    assert m.calibration.model_dump() == exported  # the student's own calibration, not a fit on made-up ads
    assert default_bundle.main(["--bundles", str(root), "--model", str(model_dir)]) == 0  # present: nothing rebuilt
    assert read_current(root) == version_dir.name
    with TestClient(create_app(make_settings(root))) as c:
        r = c.post("/rank", json={"query": "Laufschuhe für Damen", "top_k": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "sklearn", "pandas"):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
from offline.publish import default_bundle
sys.exit(default_bundle.main(sys.argv[1:]))
"""


def test_builds_with_the_serving_extras_only(model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    r = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "--bundles", str(root), "--model", str(model_dir),
                        "--ads", "30", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert verify_bundle(root / read_current(root)).index.n_ads == 30


def test_a_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "offline.publish.default_bundle", "--bundles", str(tmp_path / "b"),
                        "--model", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "nope" in r.stderr
