"""Caps on concurrent work per client (docs/contract §7, v1.1): long polls and approval WebSockets per
relying party (one budget), device WebSockets per device. Beyond the cap: 429
too_many_concurrent_requests, or the socket is closed with 1008 and that code as the reason."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from approvals.limits import DEVICE_SOCKETS, RELYING_PARTY_WAITS
from approvals.models import ApprovalRequest
from nemid_app_backend.asgi import application
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.live import live_asgi_server
from tests.realtime.helpers import make_approval

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
REFUSED = {"type": "websocket.close", "code": 1008, "reason": "too_many_concurrent_requests"}


@pytest.fixture
def world(settings):  # type: ignore[no-untyped-def]
    settings.NEMID_MAX_WAITS_PER_RP = 2
    settings.NEMID_MAX_SOCKETS_PER_DEVICE = 2
    citizen = CitizenFactory()
    rp = RelyingPartyFactory()
    approvals = [
        make_approval(rp=rp, citizen=citizen, expires_at=timezone.now() + datetime.timedelta(seconds=120)) for _ in range(3)
    ]
    return {"rp": rp, "citizen": citizen, "device": DeviceFactory(citizen=citizen), "approvals": approvals}


@pytest.fixture
def live_client(world: Any) -> Iterator[httpx.AsyncClient]:
    """An HTTP client of the live server: each request gets a thread of its own there, as under uvicorn."""
    with live_asgi_server() as url:
        yield httpx.AsyncClient(base_url=url, timeout=60)


def long_poll(client: httpx.AsyncClient, rp: Any, approval: Any, wait: int = 30) -> Any:
    return client.get(f"/api/v1/approvals/{approval.id}?wait={wait}", headers={"Authorization": f"Bearer {rp.api_key}"})


async def until(condition: Any, deadline: float = 10.0) -> None:
    """Wait for an async condition (what the server reports), with a deadline."""
    give_up = time.monotonic() + deadline
    while not await condition():
        assert time.monotonic() < give_up, "condition not reached"
        await asyncio.sleep(0.02)


def waits_in_use(rp: Any, count: int) -> Any:
    async def check() -> bool:
        return await sync_to_async(RELYING_PARTY_WAITS.in_use)(rp.pk) == count

    return check


async def expire(approval: Any) -> None:
    """Let the request run out: a long poll on it answers within its re-read interval."""
    await db(ApprovalRequest.objects.filter(id=approval.id).update)(expires_at=timezone.now() - datetime.timedelta(seconds=1))


def rp_socket(rp: Any, approval: Any) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/v1/approvals/{approval.id}", headers=[(b"authorization", f"Bearer {rp.api_key}".encode())]
    )


def device_socket(device: Any) -> WebsocketCommunicator:
    token = device.phone.token("GET", "/ws/v1/device")
    return WebsocketCommunicator(application, "/ws/v1/device", headers=[(b"authorization", f"Device {token}".encode())])


async def test_long_polls_beyond_the_cap_are_429_and_their_slots_free_up(world, live_client):
    rp, approvals, client = world["rp"], world["approvals"], live_client
    waiting = [asyncio.create_task(long_poll(client, rp, approval)) for approval in approvals[:2]]
    await until(waits_in_use(rp, 2))
    refused = await long_poll(client, rp, approvals[2])
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "too_many_concurrent_requests"
    assert refused.headers["Retry-After"] == "1"
    # A plain read is never capped.
    plain = await client.get(f"/api/v1/approvals/{approvals[2].id}", headers={"Authorization": f"Bearer {rp.api_key}"})
    assert plain.status_code == 200
    # Another relying party has its own budget.
    other = await db(RelyingPartyFactory)()
    theirs = await db(make_approval)(rp=other, citizen=world["citizen"])
    assert (await long_poll(client, other, theirs, wait=1)).status_code == 200
    # One wait ends (its request runs out): its slot is free for the next.
    await expire(approvals[0])
    finished = await asyncio.wait_for(waiting[0], 10)
    assert finished.status_code == 200 and finished.json()["status"] == "expired"
    await until(waits_in_use(rp, 1))
    assert (await long_poll(client, rp, approvals[2], wait=1)).status_code == 200
    await expire(approvals[1])
    assert (await asyncio.wait_for(waiting[1], 10)).status_code == 200
    await until(waits_in_use(rp, 0))


async def test_long_polls_and_approval_sockets_share_the_relying_partys_budget(world, live_client):
    rp, approvals, client = world["rp"], world["approvals"], live_client
    waiting = asyncio.create_task(long_poll(client, rp, approvals[0]))
    await until(waits_in_use(rp, 1))
    first = rp_socket(rp, approvals[1])
    assert (await first.connect(timeout=10))[0]
    assert (await first.receive_json_from())["status"] == "pending"
    second = rp_socket(rp, approvals[2])
    assert (await second.connect(timeout=10))[0]  # accepted, so that the client can read why it is closed
    assert await second.receive_output(timeout=2) == REFUSED
    assert (await long_poll(client, rp, approvals[2], wait=1)).status_code == 429
    await first.disconnect()
    await until(waits_in_use(rp, 1))
    third = rp_socket(rp, approvals[2])
    assert (await third.connect(timeout=10))[0]
    assert (await third.receive_json_from())["status"] == "pending"
    await third.disconnect()
    await expire(approvals[0])
    assert (await asyncio.wait_for(waiting, 10)).status_code == 200
    await until(waits_in_use(rp, 0))


async def test_device_sockets_beyond_the_cap_are_closed_1008(world):
    device = world["device"]
    sockets = [device_socket(device) for _ in range(2)]
    for ws in sockets:
        assert (await ws.connect(timeout=10))[0]
    extra = device_socket(device)
    assert (await extra.connect(timeout=10))[0]
    assert await extra.receive_output(timeout=2) == REFUSED
    assert await sync_to_async(DEVICE_SOCKETS.in_use)(device.id) == 2
    # Another device of the same citizen has its own cap.
    other = await db(DeviceFactory)(citizen=world["citizen"])
    theirs = device_socket(other)
    assert (await theirs.connect(timeout=10))[0]
    await theirs.disconnect()
    # A socket that goes frees its slot for a reconnect.
    await sockets[0].disconnect()
    await until(lambda: _device_sockets_are(device, 1))
    again = device_socket(device)
    assert (await again.connect(timeout=10))[0]
    await again.send_json_to({"type": "ping"})
    assert await again.receive_json_from() == {"type": "pong"}
    for ws in (again, sockets[1]):
        await ws.disconnect()
    await until(lambda: _device_sockets_are(device, 0))


async def _device_sockets_are(device: Any, count: int) -> bool:
    return await sync_to_async(DEVICE_SOCKETS.in_use)(device.id) == count


async def test_a_refused_handshake_takes_no_slot(world):
    device = world["device"]
    bad = WebsocketCommunicator(application, "/ws/v1/device", headers=[(b"authorization", b"Device not-a-token")])
    assert not (await bad.connect(timeout=10))[0]
    wrong_key = WebsocketCommunicator(
        application, f"/ws/v1/approvals/{world['approvals'][0].id}", headers=[(b"authorization", b"Bearer nrp_wrong")]
    )
    assert not (await wrong_key.connect(timeout=10))[0]
    assert DEVICE_SOCKETS.in_use(device.id) == 0
    assert RELYING_PARTY_WAITS.in_use(world["rp"].pk) == 0


def test_a_client_that_leaves_a_long_poll_frees_its_slot(world):
    """Against the live server: the client gives up (its connection closes) while the poll waits;
    the slot is free again at the latest when the wait it asked for has run out."""
    rp, approvals = world["rp"], world["approvals"]
    with live_asgi_server() as url:
        with httpx.Client(base_url=url, timeout=0.5) as client, pytest.raises(httpx.ReadTimeout):
            client.get(f"/api/v1/approvals/{approvals[0].id}?wait=2", headers={"Authorization": f"Bearer {rp.api_key}"})
        give_up = time.monotonic() + 10
        while RELYING_PARTY_WAITS.in_use(rp.pk):
            assert time.monotonic() < give_up, "the slot was not given back"
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=10) as client:
            answers = [
                client.get(f"/api/v1/approvals/{approval.id}?wait=1", headers={"Authorization": f"Bearer {rp.api_key}"})
                for approval in approvals
            ]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
