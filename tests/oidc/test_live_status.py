"""The hosted code-app page's live status socket, /ws/oidc/login/{id} (docs/contract §10)."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as BrowserClient

from nemid_app_backend.asgi import application
from oidc.models import LoginTransaction
from tests.factories import CitizenFactory, DeviceFactory
from tests.oidc.conftest import AuthRequest, approve_in_app, login_path, register

pytestmark = [pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


def socket_of(page: str) -> str:
    return "/ws" + page  # /oidc/login/{id} -> /ws/oidc/login/{id}


def _waiting_login() -> tuple[str, object]:
    client = register()
    citizen = CitizenFactory()
    device = DeviceFactory(citizen=citizen)
    browser = BrowserClient()
    page = login_path(browser.get(AuthRequest(client).url()))
    browser.post(page + "/user", {"user_id": citizen.user_id})
    browser.post(page + "/method", {"method": "app"})
    return page, device


async def test_the_page_hears_the_answer_then_the_socket_closes():
    page, device = await db(_waiting_login)()
    ws = WebsocketCommunicator(application, socket_of(page), headers=[(b"origin", b"http://testserver")])
    assert (await ws.connect(timeout=10))[0]
    assert await ws.receive_json_from() == {"status": "pending"}
    await db(approve_in_app)(device)
    assert await ws.receive_json_from(timeout=5) == {"status": "approved"}
    assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 1000}


async def test_an_unknown_login_or_one_without_a_request_is_refused():
    ws = WebsocketCommunicator(application, f"/ws/oidc/login/{uuid.uuid4()}")
    assert not (await ws.connect(timeout=10))[0]

    def without_request() -> str:
        client = register()
        browser = BrowserClient()
        return login_path(browser.get(AuthRequest(client).url()))

    page = await db(without_request)()
    assert await db(LoginTransaction.objects.count)() == 1
    ws = WebsocketCommunicator(application, socket_of(page))
    assert not (await ws.connect(timeout=10))[0]


async def test_another_sites_page_cannot_open_it():
    page, _ = await db(_waiting_login)()
    ws = WebsocketCommunicator(application, socket_of(page), headers=[(b"origin", b"https://evil.example")])
    assert not (await ws.connect(timeout=10))[0]
