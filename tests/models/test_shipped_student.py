"""The student committed in `shipped/`: intact, within its size budget, and carrying the figures measured on it."""

from __future__ import annotations

import json
from pathlib import Path

from offline.export.model_dir import read_model_dir
from offline.export.shipped import SHIPPED_MODEL_DIR

SIZE_BUDGET_BYTES = 60_000_000  # the ship-the-student issue: towers, heads, tokenizer and model.json ≤ 60 MB
REPORT = Path(__file__).resolve().parents[2] / "reports" / "qadsm-de" / "metrics.json"


def test_shipped_files_match_their_digests_and_fit_the_budget() -> None:
    info = read_model_dir(SHIPPED_MODEL_DIR)  # raises on a missing or altered file
    assert info["encoders"]["query"]["fp32"] is None and info["encoders"]["ad"]["fp32"] is None
    total = sum(p.stat().st_size for p in SHIPPED_MODEL_DIR.iterdir())
    assert total <= SIZE_BUDGET_BYTES, f"shipped student is {total / 1e6:.1f} MB"
    assert info["vocab"]["kept"] < info["vocab"]["original"]


def test_shipped_test_figure_is_within_0_002_of_the_reported_student() -> None:
    measured = read_model_dir(SHIPPED_MODEL_DIR)["metrics"]["qadsm_test"]
    reported = json.loads(REPORT.read_text())["models"]["student_kd"]["roc_auc"]
    assert abs(measured["roc_auc"] - reported) <= 0.002
    assert 0 <= measured["vs_baseline"]["roc_auc_loss"] <= 0.001
