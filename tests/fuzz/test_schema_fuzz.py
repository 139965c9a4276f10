"""Schema fuzzing with schemathesis: whatever the OpenAPI schema at /api/schema/ lets a client send,
the answer is never a 5xx, and every 4xx is RFC 9457 problem details (docs/contract §0).

The normal suite runs a short, deterministic pass (NEMID_FUZZ_EXAMPLES examples per operation,
default 10); `make fuzz` runs a long, randomised one. Three requests in four carry valid credentials
(the RP's API key, a fresh device token for the exact method and path), so that the generated
bodies reach validation and the services; the rest keep what schemathesis generated.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.factories import DeviceFactory, RelyingPartyFactory

EXAMPLES = int(os.environ.get("NEMID_FUZZ_EXAMPLES", "10"))
LONG_PASS = "NEMID_FUZZ_EXAMPLES" in os.environ
_CALLS = itertools.count()

pytestmark = pytest.mark.django_db(transaction=False)


def _load_schema() -> Any:
    """The schema as /api/schema/ serves it, fetched from the WSGI app at collection time, before any
    test database exists: with the demo off, so that its example hook reads no database. Module level,
    not a lazy fixture: schemathesis' lazy loader does not run on pytest 9."""
    from django.test import override_settings
    from django.urls import get_resolver

    from nemid_app_backend.wsgi import application

    get_resolver().url_patterns  # noqa: B018 - the URLs are built now, with the demo as configured
    with override_settings(NEMID_DEMO=False):
        return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_test_connection():  # type: ignore[no-untyped-def]
    """Like Django's test client: the request signals must not close the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_credentials(db):  # type: ignore[no-untyped-def]
    rp = RelyingPartyFactory(allowed_types=["login", "payment", "3ds"])
    device = DeviceFactory()
    return rp, device


def _headers(case: Any, rp: Any, device: Any) -> dict[str, str]:
    # One generated case in four keeps whatever Authorization it was generated with (or none).
    if next(_CALLS) % 4 == 3:
        return {}
    path = case.formatted_path
    if path.startswith("/api/v1/device/") or path == "/api/v1/device":
        return {"Authorization": f"Device {device.phone.token(case.method, path)}"}
    if path.startswith("/api/v1/devices"):
        return {}
    return {"Authorization": f"Bearer {rp.api_key}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_PASS,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_input_makes_a_server_error_and_every_4xx_is_problem_json(case, fuzz_credentials):  # type: ignore[no-untyped-def]
    rp, device = fuzz_credentials
    response = case.call(headers=_headers(case, rp, device))
    label = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, label
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/problem+json"), f"{label}: {content_type}"
