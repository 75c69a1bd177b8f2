"""Settings: environment, settings file, explicit values, and refusals at startup."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import load_settings


def test_precedence_explicit_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "twinrank.toml"
    f.write_text("max_ads = 9\nmax_top_k = 50\ndefect_weight = 0.3\n")
    monkeypatch.setenv("TWINRANK_MAX_ADS", "5")
    s = load_settings(f, max_top_k=17)
    assert (s.max_ads, s.max_top_k, s.defect_weight) == (5, 17, 0.3)


def test_json_file_and_env_file_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"service": {"retrieve_k": 33}}')
    monkeypatch.setenv("TWINRANK_SETTINGS_FILE", str(f))
    assert load_settings().retrieve_k == 33


def test_token_is_secret_and_required_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(admin_token="a-long-token")
    assert "a-long-token" not in repr(s)
    with pytest.raises(ValidationError, match="admin_token is required"):
        load_settings(environment="production")
    with pytest.raises(ValidationError, match="at least 8"):
        load_settings(admin_token="short")


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="max_ads"):
        load_settings(max_ads=0)
    with pytest.raises(ValidationError, match="unknown_key|Extra inputs"):
        load_settings(unknown_key=1)
    bad = tmp_path / "bad.toml"
    bad.write_text("max_ads = = 3")
    with pytest.raises(ValueError, match="not valid"):
        load_settings(bad)
