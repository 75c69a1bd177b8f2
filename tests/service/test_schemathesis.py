"""Property-based requests generated from the OpenAPI schema against real uvicorn: never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.api.app import create_app
from tests.service.conftest import ADMIN_TOKEN, make_settings
from tests.utils.server import running_server

schema = schemathesis.openapi.from_dict(create_app(make_settings("bundles")).openapi())


@pytest.fixture(scope="module")
def live_url(_pristine_root):
    with running_server(make_settings(_pristine_root)) as (url, _):
        yield url


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, live_url) -> None:
    response = case.call(base_url=live_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    assert response.status_code < 500, (case.body, response.text)
