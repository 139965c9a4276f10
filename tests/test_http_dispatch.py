"""The ASGI application's HTTP dispatch: synchronous endpoints through the WSGI handler, the long
poll straight to its async view; both answer exactly as the contract says, and as Django's own
handlers (with the whole middleware chain) answer."""

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


@pytest.fixture
def no_django_asgi(monkeypatch):  # type: ignore[no-untyped-def]
    """Fail any request that reaches Django's ASGI handler: the long poll must not."""

    async def refuse(scope, receive, send):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{scope['path']} went through Django's ASGI handler")

    monkeypatch.setattr(http_application, "asgi_app", refuse)


def _as_django_answers(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    from django.test import Client

    response = Client().get(path, headers=headers)
    return response.status_code, {name.lower(): value for name, value in response.items()}, response.content


@pytest.mark.parametrize(
    ("path_tail", "with_key", "status", "code"),
    [
        ("?wait=1", True, 200, None),  # pending after the wait
        ("?wait=1", False, 401, "invalid_api_key"),
        ("?wait=0", True, 400, "validation_error"),
        ("?wait=abc", True, 400, "validation_error"),
        ("x?wait=1", True, 404, "not_found"),
        ("?wait=1&" + "&".join(f"f{n}=1" for n in range(1001)), True, 400, "validation_error"),  # too many fields
    ],
)
async def test_the_long_poll_answers_directly_as_django_would(
    rp_api, rp, citizen, device, no_django_asgi, path_tail, with_key, status, code
):
    from asgiref.sync import sync_to_async

    from tests.approvals.conftest import create, login_body

    approval = await sync_to_async(lambda: create(rp_api, login_body(citizen)).json())()
    path = f"/api/v1/approvals/{approval['id']}{path_tail}"
    headers = {"Authorization": f"Bearer {rp.api_key}"} if with_key else {}
    async with _client() as client:
        direct = await client.get(path, headers=headers)
    django_status, django_headers, django_body = await sync_to_async(_as_django_answers)(path, **headers)
    assert direct.status_code == django_status == status
    if code is not None:
        assert direct.json()["code"] == code and direct.headers["content-type"] == "application/problem+json"
    else:
        assert direct.json()["status"] == "pending" and direct.json()["id"] == approval["id"]
    assert direct.content == django_body
    for name in (
        "content-type",
        "content-length",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "cross-origin-opener-policy",
    ):
        assert direct.headers.get(name) == django_headers.get(name), name
    assert direct.headers.get("www-authenticate") == django_headers.get("www-authenticate")


async def test_the_long_poll_refuses_a_host_not_allowed(rp, no_django_asgi):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=http_application), base_url="http://evil.example") as client:
        response = await client.get(
            "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10?wait=1", headers={"Authorization": f"Bearer {rp.api_key}"}
        )
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


async def test_an_unexpected_error_in_the_long_poll_is_a_problem_500(rp, no_django_asgi, monkeypatch):
    from approvals import apis

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(apis, "_long_poll", broken)
    async with _client() as client:
        response = await client.get(
            "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10?wait=1", headers={"Authorization": f"Bearer {rp.api_key}"}
        )
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_client_that_leaves_ends_its_long_poll(rp, no_django_asgi, monkeypatch):
    import asyncio
    import time

    requests = [{"type": "http.request", "body": b""}]

    async def receive():  # type: ignore[no-untyped-def]
        if requests:
            return requests.pop()
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    approval_id = "0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/api/v1/approvals/{approval_id}",
        "raw_path": f"/api/v1/approvals/{approval_id}".encode(),
        "root_path": "",
        "query_string": b"wait=20",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {rp.api_key}".encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    from approvals import apis

    async def pending(*args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(30)  # stands in for a request that stays pending

    monkeypatch.setattr(apis, "_long_poll", pending)
    started = time.monotonic()
    await http_application(scope, receive, send)
    assert time.monotonic() - started < 3  # cancelled when the client left
    assert sent == []  # nothing written to a closed connection


async def test_a_long_poll_path_with_a_trailing_slash_is_left_to_django(rp):
    async with _client() as client:
        response = await client.get(
            "/api/v1/approvals/0b8f2f4e-8f0e-4a55-9d7b-7c0f2f1a6f10/?wait=1", headers={"Authorization": f"Bearer {rp.api_key}"}
        )
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def test_an_oversized_body_is_refused_before_django_reads_it():
    async with _client() as client:
        response = await client.post(
            "/api/v1/devices", content=b"x" * (9 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
