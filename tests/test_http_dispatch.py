"""The ASGI application's HTTP dispatch: synchronous endpoints through the WSGI handler, the long
poll through Django's ASGI handler; both answer exactly as the contract says."""

from __future__ import annotations

import httpx
import pytest

from nemid_app_backend.asgi import http_application

pytestmark = pytest.mark.django_db(transaction=True)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=http_application), base_url="http://127.0.0.1")


def test_only_the_long_poll_and_static_files_take_the_async_handler():
    wants = http_application.wants_async
    detail = "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10"
    assert wants({"type": "http", "method": "GET", "path": detail, "query_string": b"wait=5"})
    assert wants({"type": "http", "method": "GET", "path": detail, "query_string": b"x=1&wai%74=5"})  # decoded as Django does
    assert not wants({"type": "http", "method": "GET", "path": detail, "query_string": b""})
    assert not wants({"type": "http", "method": "GET", "path": detail, "query_string": b"await=5&x=wait"})
    assert not wants({"type": "http", "method": "POST", "path": "/api/v1/approvals"})
    assert not wants({"type": "http", "method": "POST", "path": "/api/v1/approvals/x/cancel"})
    assert not wants({"type": "http", "method": "GET", "path": "/api/v1/device/approvals"})
    assert not wants({"type": "http", "method": "GET", "path": "/healthz"})


async def test_sync_endpoints_answer_through_the_wsgi_handler(rp):
    async with _client() as client:
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        refused = await client.post("/api/v1/approvals", json={})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "invalid_api_key"
        bad = await client.post(
            "/api/v1/approvals",
            content=b"{",
            headers={"Authorization": f"Bearer {rp.api_key}", "Content-Type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["code"] == "validation_error"


async def test_the_plain_read_answers_through_the_wsgi_handler_with_its_drf_view(rp):
    from django.urls import resolve

    from approvals.apis import ApprovalDetailApi, approval_detail
    from nemid_app_backend.http_dispatch import WSGI_URLCONF

    path = "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10"
    assert resolve(path).func is approval_detail  # test clients and the ASGI handler: the async view
    wsgi_view = resolve(path, urlconf=WSGI_URLCONF).func
    assert wsgi_view is not approval_detail and wsgi_view.cls is ApprovalDetailApi  # type: ignore[attr-defined]
    async with _client() as client:
        missing = await client.get(
            "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10", headers={"Authorization": f"Bearer {rp.api_key}"}
        )
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        refused = await client.get("/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10")
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
        unknown = await client.get("/api/v1/nothing-here")
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_the_long_poll_answers_through_the_async_handler(rp):
    async with _client() as client:
        missing = await client.get(
            "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10?wait=1", headers={"Authorization": f"Bearer {rp.api_key}"}
        )
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_an_oversized_body_is_refused_before_django_reads_it():
    async with _client() as client:
        response = await client.post(
            "/api/v1/devices", content=b"x" * (9 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
