"""POST /admin/reload: bearer token, swap to a new bundle, refusal of a bad one (the old one stays)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bundle import current_version_dir
from tests.service.conftest import ADMIN_TOKEN, make_settings
from tests.utils.bundles import build_tiny_bundle

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def admin_client(bundle_root):
    with TestClient(create_app(make_settings(bundle_root))) as c:
        yield c


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}])
def test_reload_needs_the_token(admin_client, headers) -> None:
    r = admin_client.post("/admin/reload", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "Authorization: missing or wrong bearer token"


def test_reload_without_change(admin_client) -> None:
    r = admin_client.post("/admin/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["changed"] is False


def test_reload_swaps_to_the_new_bundle(admin_client, bundle_root, tiny_model, catalog_b) -> None:
    old = admin_client.post("/rank", json={"query": "laufschuhe"}).json()
    new_dir = build_tiny_bundle(tiny_model, catalog_b, bundle_root)
    r = admin_client.post("/admin/reload", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": True, "bundle_version": new_dir.name}
    new = admin_client.post("/rank", json={"query": "laufschuhe"}).json()
    assert new["bundle_version"] == new_dir.name != old["bundle_version"]
    assert new["query_cached"] is True  # the same model: the query cache came along with the query tower
    assert all(x["ad_id"].startswith("bd") for x in new["results"])  # the new catalog's ads


def test_bad_bundle_is_refused_and_the_old_one_keeps_serving(admin_client, bundle_root, tiny_model,
                                                              catalog_b) -> None:
    old_version = admin_client.post("/rank", json={"query": "x"}).json()["bundle_version"]
    new_dir = build_tiny_bundle(tiny_model, catalog_b, bundle_root)
    onnx = new_dir / "query_encoder.onnx"
    data = onnx.read_bytes()
    onnx.unlink()  # the file may be a hard link into the model directory: replace it, never edit it in place
    onnx.write_bytes(data[:1000])  # truncated after publishing
    r = admin_client.post("/admin/reload", headers=AUTH)
    assert r.status_code == 409
    assert "query_encoder.onnx" in r.json()["error"] and f"still serving {old_version}" in r.json()["error"]
    ok = admin_client.post("/rank", json={"query": "x"})
    assert ok.status_code == 200 and ok.json()["bundle_version"] == old_version
    assert 'twinrank_bundle_reloads_total{result="refused"} 1.0' in admin_client.get("/metrics").text


def test_reload_disabled_without_a_token(bundle_root) -> None:
    with TestClient(create_app(make_settings(bundle_root, admin_token=None))) as c:
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 401 and "disabled" in r.json()["error"]


def test_watcher_picks_up_a_new_current(bundle_root, tiny_model, catalog_b) -> None:
    import time

    with TestClient(create_app(make_settings(bundle_root, watch_interval_s=0.1))) as c:
        new_dir = build_tiny_bundle(tiny_model, catalog_b, bundle_root)
        assert current_version_dir(bundle_root) == new_dir
        deadline = time.monotonic() + 60
        while c.post("/rank", json={"query": "x"}).json()["bundle_version"] != new_dir.name:
            assert time.monotonic() < deadline, "watcher did not swap in the new bundle"
            time.sleep(0.1)


def test_startup_fails_loudly_on_a_bad_bundle(bundle_root) -> None:
    manifest = current_version_dir(bundle_root) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["model"]["dim"] = 17
    manifest.unlink()
    manifest.write_text(json.dumps(data))
    with pytest.raises(Exception, match="ad_vectors.npy"), TestClient(create_app(make_settings(bundle_root))):
        pass
