"""docs/contract §5 long poll: GET /api/v1/approvals/{id}?wait=N.

Threads and several requests at once need committed data, hence transactional tests."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.test import Client
from django.utils import timezone

from approvals.events import approval_group
from approvals.models import ApprovalRequest
from tests.approvals.conftest import create, decide, login_body, payment_body
from tests.approvals.test_create import assert_problem
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(rp_api, rp, citizen, device):  # type: ignore[no-untyped-def]
    approval = create(rp_api, payment_body(citizen)).json()
    return rp, device, approval


@dataclass
class Polled:
    body: dict[str, Any]
    reads: int  # how often the poll read the request
    elapsed: float


def poll(rp, approval_id: str, wait: int, monkeypatch, after_first_read=None) -> Polled:  # type: ignore[no-untyped-def]
    """Long-poll the request. `after_first_read` runs once the poll has read the request the first
    time and before it starts waiting (in the poll's read thread), so what it changes is an event
    the poll must notice while it waits, whatever the machine's speed."""
    from approvals import apis

    read = apis._read_for_poll
    reads = []

    def counting_read(relying_party: Any, approval_id: Any) -> Any:
        result = read(relying_party, approval_id)
        reads.append(result[0]["status"])
        if len(reads) == 1 and after_first_read is not None:
            try:
                after_first_read()
            finally:
                connection.close()
        return result

    monkeypatch.setattr(apis, "_read_for_poll", counting_read)
    started = time.monotonic()
    response = Client().get(f"/api/v1/approvals/{approval_id}?wait={wait}", HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    assert response.status_code == 200, response.content
    return Polled(response.json(), len(reads), time.monotonic() - started)


def test_returns_pending_after_the_wait(setup, settings, monkeypatch):
    settings.NEMID_LONG_POLL_RECHECK_INTERVAL = 10  # longer than the wait: the poll reads at the start and at its end
    rp, _, approval = setup
    polled = poll(rp, approval["id"], 2, monkeypatch)
    assert polled.body["status"] == "pending" and polled.body["id"] == approval["id"]
    assert polled.reads == 2
    assert polled.elapsed >= 1.9  # it held the request for the wait asked


def test_returns_early_when_a_device_decides(setup, monkeypatch):
    rp, device, approval = setup
    polled = poll(rp, approval["id"], 10, monkeypatch, after_first_read=lambda: decide(device, approval))
    assert polled.body["status"] == "approved" and polled.body["result"]["token"]
    # Answered by the decision's broadcast, or by the next re-read (every second): never by the
    # end of the wait, which takes ten re-reads.
    assert polled.reads <= 2


def test_returns_at_expiry_with_the_expiry_recorded(setup, settings, monkeypatch):
    settings.NEMID_LONG_POLL_RECHECK_INTERVAL = 30  # no re-read before the wait ends, unless the expiry wakes the poll
    rp, _, approval = setup
    ApprovalRequest.objects.filter(id=approval["id"]).update(expires_at=timezone.now() + datetime.timedelta(seconds=1.2))
    polled = poll(rp, approval["id"], 30, monkeypatch)
    assert polled.body["status"] == "expired" and polled.reads == 2
    assert polled.elapsed < 30  # woken by the expiry, not by the end of its wait
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "expired"


async def test_waiting_polls_wait_side_by_side_in_the_realtime_process(realtime_app, monkeypatch):
    """Twenty polls through the realtime process's ASGI handler all read and wait at once: every
    first read happens before any poll answers (polls that took turns would answer one by one)."""
    import httpx

    from approvals import apis

    @sync_to_async
    def make() -> tuple[str, list[str]]:
        rp: Any = RelyingPartyFactory()
        ids = []
        for _ in range(20):
            citizen: Any = CitizenFactory()
            DeviceFactory(citizen=citizen)
            ids.append(
                str(
                    ApprovalRequest.objects.create(
                        relying_party=rp,
                        citizen=citizen,
                        type="login",
                        nonce="n" * 43,
                        created_at=timezone.now(),
                        expires_at=timezone.now() + datetime.timedelta(seconds=60),
                    ).id
                )
            )
        connection.close()  # this helper thread's connection would otherwise outlive the test
        return rp.api_key, ids

    api_key, ids = await make()
    loop = asyncio.get_running_loop()
    first_reads: set[str] = set()
    all_waiting = asyncio.Event()
    answered: list[int] = []
    read = apis._read_for_poll

    def counting_read(relying_party: Any, approval_id: Any) -> Any:
        result = read(relying_party, approval_id)
        first_reads.add(str(approval_id))
        if len(first_reads) == len(ids):
            loop.call_soon_threadsafe(all_waiting.set)
        return result

    monkeypatch.setattr(apis, "_read_for_poll", counting_read)
    transport = httpx.ASGITransport(app=realtime_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

        async def poll_one(approval_id: str) -> httpx.Response:
            response = await client.get(f"/api/v1/approvals/{approval_id}?wait=2", headers={"Authorization": f"Bearer {api_key}"})
            answered.append(response.status_code)
            return response

        polls = asyncio.gather(*(poll_one(approval_id) for approval_id in ids))
        await asyncio.wait_for(all_waiting.wait(), timeout=60)
        answered_before_all_waited = len(answered)
        responses = await polls
    assert answered_before_all_waited == 0
    assert [response.status_code for response in responses] == [200] * 20
    assert {response.json()["status"] for response in responses} == {"pending"}


@pytest.mark.redis
def test_a_channel_layer_event_wakes_the_poll(setup, settings, monkeypatch):
    """The message alone answers: the row stays pending, and the re-read fallback is slowed past the wait."""
    from channels.layers import get_channel_layer

    settings.NEMID_LONG_POLL_RECHECK_INTERVAL = 10
    rp, _, approval = setup
    final = {**approval, "status": "cancelled"}

    def change() -> None:
        message = {"type": "approval.changed", "id": approval["id"], "status": "cancelled", "resource": final}
        async_to_sync(get_channel_layer().group_send)(approval_group(approval["id"]), message)

    polled = poll(rp, approval["id"], 8, monkeypatch, after_first_read=change)
    assert polled.body["status"] == "cancelled" and polled.reads == 1


def test_poll_works_with_the_channel_layer_down(setup, monkeypatch):
    from approvals import apis

    class BrokenLayer:
        async def new_channel(self) -> str:
            raise ConnectionError("redis down")

    monkeypatch.setattr(apis, "get_channel_layer", lambda: BrokenLayer())
    rp, device, approval = setup
    polled = poll(rp, approval["id"], 5, monkeypatch, after_first_read=lambda: decide(device, approval, "deny"))
    assert polled.body["status"] == "denied" and polled.reads == 2  # the next re-read, a second later


def test_login_long_poll_sees_cancel(rp_api, rp, citizen, device, monkeypatch):
    approval = create(rp_api, login_body(citizen)).json()

    def cancel() -> None:
        Client().post(f"/api/v1/approvals/{approval['id']}/cancel", HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")

    polled = poll(rp, approval["id"], 5, monkeypatch, after_first_read=cancel)
    assert polled.body["status"] == "cancelled" and polled.reads <= 2


def test_wait_path_errors(rp_api, rp, citizen, device, api):
    """Authentication, 404 and wait validation of the async path (one test: transactional tests are slow)."""
    approval = create(rp_api, login_body(citizen)).json()
    url = f"/api/v1/approvals/{approval['id']}"
    for wait in ["0", "31", "-1", "1.5", "abc", "", "100", "\u0663", "1&wait=2"]:
        body = assert_problem(rp_api.get(f"{url}?wait={wait}"), 400, "validation_error")
        assert "wait" in body["errors"]
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "x" * 500]:
        assert_problem(rp_api.get(f"/api/v1/approvals/{bad}?wait=1"), 404, "not_found")
    other = RelyingPartyFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    assert_problem(api.get(f"{url}?wait=1"), 404, "not_found")
    api.credentials()
    response = api.get(f"{url}?wait=1")
    assert_problem(response, 401, "invalid_api_key")
    assert response["WWW-Authenticate"] == "Bearer"
    api.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert_problem(api.get(f"{url}?wait=0"), 401, "invalid_api_key")  # authentication comes first


def test_wait_on_a_final_request_returns_at_once(rp_api, rp, citizen, device, monkeypatch):
    approval = create(rp_api, payment_body(citizen)).json()
    decide(device, approval)
    polled = poll(rp, approval["id"], 30, monkeypatch)
    assert polled.body["status"] == "approved" and polled.body["result"]["token"]
    # One read, and the answer: a poll that waited would have read again (or hung for 30 s), as no
    # message comes for a request that is already final.
    assert polled.reads == 1
