"""The request path: the body limit in front of everything (CONTRACT §0), under Django's WSGI-style
test client and under the ASGI application; the realtime process's URLs and middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nemid_app_backend.asgi import application

LIMIT = 64 * 1024


def _asgi_client(app: object = application) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")  # type: ignore[arg-type]


def _assert_too_large(status: int, content_type: str, body: dict) -> None:
    assert status == 413
    assert content_type == "application/problem+json"
    assert body["code"] == "payload_too_large" and body["status"] == 413


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/approvals", "/api/v1/devices", "/api/v1/3ds/authentications", "/admin/login/"])
def test_a_body_over_64_kib_is_refused_before_authentication(client, path):
    response = client.post(path, b"x" * (LIMIT + 1), content_type="application/json")
    _assert_too_large(response.status_code, response["Content-Type"], response.json())


@pytest.mark.django_db
def test_a_body_of_exactly_64_kib_goes_on_to_authentication(client):
    response = client.post("/api/v1/approvals", b"x" * LIMIT, content_type="application/json")
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


@pytest.mark.django_db
def test_the_limit_is_a_setting(client, settings):
    settings.NEMID_MAX_REQUEST_BODY = 100
    response = client.post("/api/v1/approvals", b"x" * 101, content_type="application/json")
    _assert_too_large(response.status_code, response["Content-Type"], response.json())


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.django_db(transaction=True)
async def test_the_asgi_application_refuses_a_declared_length_over_the_limit():
    async with _asgi_client() as client:
        response = await client.post(
            "/api/v1/approvals", content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"}
        )
    _assert_too_large(response.status_code, response.headers["content-type"], response.json())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("size", "refused"), [(LIMIT + 1, True), (LIMIT * 4, True), (LIMIT, False)])
async def test_the_asgi_application_measures_a_chunked_body(size, refused):
    async with _asgi_client() as client:
        request = client.build_request(
            "POST", "/api/v1/approvals", content=_chunks(size), headers={"Content-Type": "application/json"}
        )
        assert request.headers["transfer-encoding"] == "chunked" and "content-length" not in request.headers
        response = await client.send(request)
    if refused:
        _assert_too_large(response.status_code, response.headers["content-type"], response.json())
    else:
        assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


@pytest.mark.django_db(transaction=True)
async def test_the_realtime_process_refuses_a_body_over_the_limit_too(realtime_app):
    async with _asgi_client(realtime_app) as client:
        response = await client.post(
            "/api/v1/approvals", content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"}
        )
    _assert_too_large(response.status_code, response.headers["content-type"], response.json())


@pytest.mark.django_db(transaction=True)
async def test_the_realtime_process_serves_the_api_but_no_html_pages(realtime_app):
    async with _asgi_client(realtime_app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        refused = await client.get("/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10?wait=1")
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
        assert refused.headers["x-content-type-options"] == "nosniff"
        for path in ("/admin/", "/api/docs/", "/demo/"):
            missing = await client.get(path)
            assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json", path


@pytest.mark.django_db(transaction=True)
async def test_a_long_poll_through_the_realtime_process_answers_with_the_decision(realtime_app, rp_api, rp, citizen, device):
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connection

    from tests.approvals.conftest import create, decide, payment_body

    def in_a_thread(action):  # type: ignore[no-untyped-def]
        """Run `action` in a worker thread and give its database connection back (to the pool) after."""

        def run():  # type: ignore[no-untyped-def]
            try:
                return action()
            finally:
                connection.close()

        return sync_to_async(run, thread_sensitive=False)()

    approval = await in_a_thread(lambda: create(rp_api, payment_body(citizen)).json())
    async with _asgi_client(realtime_app) as client:
        poll = asyncio.ensure_future(
            client.get(f"/api/v1/approvals/{approval['id']}?wait=20", headers={"Authorization": f"Bearer {rp.api_key}"})
        )
        await in_a_thread(lambda: decide(device, approval))
        response = await poll
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["result"]["token"]


@pytest.mark.django_db(transaction=True)
async def test_an_unexpected_error_is_a_problem_500_under_both_handlers(rp, monkeypatch):
    """What Django answers for an exception no one expected: the 500 problem, no trace, in either handler."""
    from asgiref.sync import sync_to_async
    from django.test import Client

    from approvals import apis

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(apis, "_approval_for_rp_fresh", broken)
    path = "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10"
    headers = {"Authorization": f"Bearer {rp.api_key}"}
    async with _asgi_client() as client:
        asgi = await client.get(path, headers=headers)
    wsgi = await sync_to_async(lambda: Client(raise_request_exception=False).get(path, headers=headers))()
    for status, content_type, body in (
        (asgi.status_code, asgi.headers["content-type"], asgi.json()),
        (wsgi.status_code, wsgi["Content-Type"], wsgi.json()),
    ):
        assert status == 500 and content_type == "application/problem+json"
        assert body["code"] == "internal_error" and "boom" not in str(body)
