"""WebSockets (docs/contract §5 subscribing, §6 real-time delivery) with channels' WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.utils import timezone

from approvals.consumers import DeviceConsumer
from approvals.events import approval_group, approval_request_created, approval_request_finalized
from approvals.models import ApprovalRequest
from devices.models import Device
from devices.services import device_revoke
from nemid_app_backend.asgi import application
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.helpers import make_approval

pytestmark = [pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


def _device_ws(device: Device, *, token: str | None = None, path: str = "/ws/v1/device") -> WebsocketCommunicator:
    token = token or device.phone.token("GET", "/ws/v1/device")  # type: ignore[attr-defined]
    return WebsocketCommunicator(application, path, headers=[(b"authorization", f"Device {token}".encode())])


def _rp_ws(approval_id: object, api_key: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/v1/approvals/{approval_id}", headers=[(b"authorization", f"Bearer {api_key}".encode())]
    )


def _create(rp, citizen, **fields) -> ApprovalRequest:  # type: ignore[no-untyped-def]
    """As the approval engine does: create, then call the hook inside the same transaction."""
    with transaction.atomic():
        approval = make_approval(rp=rp, citizen=citizen, **fields)
        approval_request_created(approval)
    return approval


def _finalize(approval: ApprovalRequest, status: str) -> None:
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().get(id=approval.id)
        approval.status = status
        approval.decided_at = timezone.now()
        approval.save(update_fields=["status", "decided_at"])
        approval_request_finalized(approval)


async def _assert_next_is_a_request_of_its_own(ws: WebsocketCommunicator, rp, citizen) -> None:  # type: ignore[no-untyped-def]
    """Nothing reached the socket before a request made now for its citizen: the group delivers in
    order, so whatever had been sent to it would come first."""
    sentinel = await db(_create)(rp, citizen)
    message = await ws.receive_json_from()
    assert message["type"] == "approval.created" and message["approval"]["id"] == str(sentinel.id)


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    citizen = CitizenFactory()
    return {"rp": RelyingPartyFactory(), "citizen": citizen, "device": DeviceFactory(citizen=citizen)}


async def test_device_ping_pong_and_bad_frames(world):
    ws = _device_ws(world["device"])
    connected, _ = await ws.connect(timeout=10)
    assert connected
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.send_to(text_data="not json")
    assert (await ws.receive_json_from())["code"] == "invalid_message"
    await ws.send_to(text_data="[1, 2]")
    assert (await ws.receive_json_from())["code"] == "invalid_message"
    await ws.send_to(text_data='{"type": "x"}')
    assert (await ws.receive_json_from())["code"] == "unsupported_message"
    await ws.send_to(text_data="x" * 100_000)
    assert (await ws.receive_json_from())["code"] == "invalid_message"
    await ws.disconnect()


@pytest.mark.parametrize(
    "make_token",
    [
        lambda phone: "",  # no token
        lambda phone: "garbage",
        lambda phone: phone.token("POST", "/ws/v1/device"),  # wrong htm
        lambda phone: phone.token("GET", "/api/v1/device"),  # wrong htu
        lambda phone: phone.token("GET", "/ws/v1/device", iat=int(timezone.now().timestamp()) - 400),  # expired
    ],
)
async def test_device_handshake_is_refused_for_a_bad_token(world, make_token):
    ws = _device_ws(world["device"], token=make_token(world["device"].phone) or " ")
    connected, _ = await ws.connect(timeout=10)
    assert not connected


async def test_device_token_cannot_be_replayed_for_a_second_connection(world):
    token = world["device"].phone.token("GET", "/ws/v1/device")
    first = _device_ws(world["device"], token=token)
    assert (await first.connect(timeout=10))[0]
    second = _device_ws(world["device"], token=token)
    assert not (await second.connect(timeout=10))[0]
    await first.disconnect()


async def test_revoked_device_handshake_is_refused(world):
    await db(Device.objects.filter(id=world["device"].id).update)(status=Device.Status.REVOKED)
    assert not (await _device_ws(world["device"]).connect(timeout=10))[0]


async def test_device_gets_created_and_closed_and_other_citizens_get_nothing(world):
    other_device = await db(DeviceFactory)()
    ws = _device_ws(world["device"])
    other = _device_ws(other_device)
    assert (await ws.connect(timeout=10))[0] and (await other.connect(timeout=10))[0]

    approval = await db(_create)(world["rp"], world["citizen"])
    message = await ws.receive_json_from()
    assert message["type"] == "approval.created"
    view = message["approval"]
    assert view["id"] == str(approval.id)
    assert view["rp_name"] == world["rp"].name
    assert view["payment"] == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    assert view["nonce"] == approval.nonce and view["verification_code_required"] is False
    assert set(view) == {
        "id",
        "type",
        "rp_name",
        "binding_message",
        "payment",
        "nonce",
        "verification_code_required",
        "created_at",
        "expires_at",
    }
    assert view["expires_at"].endswith("Z")

    await db(_finalize)(approval, "cancelled")
    assert await ws.receive_json_from() == {"type": "approval.closed", "id": str(approval.id), "status": "cancelled"}
    await _assert_next_is_a_request_of_its_own(other, world["rp"], other_device.citizen)
    await ws.disconnect()
    await other.disconnect()


async def test_every_device_of_the_citizen_gets_the_request(world):
    second = await db(DeviceFactory)(citizen=world["citizen"])
    first_ws, second_ws = _device_ws(world["device"]), _device_ws(second)
    assert (await first_ws.connect(timeout=10))[0] and (await second_ws.connect(timeout=10))[0]
    approval = await db(_create)(world["rp"], world["citizen"])
    for ws in (first_ws, second_ws):
        assert (await ws.receive_json_from())["approval"]["id"] == str(approval.id)
        await ws.disconnect()


async def test_a_rolled_back_request_is_never_broadcast(world):
    ws = _device_ws(world["device"])
    assert (await ws.connect(timeout=10))[0]

    def create_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            approval_request_created(make_approval(rp=world["rp"], citizen=world["citizen"]))
            raise RuntimeError("the service failed after the hook")

    await db(create_then_fail)()
    await _assert_next_is_a_request_of_its_own(ws, world["rp"], world["citizen"])
    await ws.disconnect()


async def test_device_revoked_while_connected_is_closed_at_once(world):
    ws = _device_ws(world["device"])
    other = await db(DeviceFactory)(citizen=world["citizen"])
    other_ws = _device_ws(other)
    assert (await ws.connect(timeout=10))[0] and (await other_ws.connect(timeout=10))[0]
    await db(device_revoke)(device=world["device"], actor="admin:test", reason="lost phone")
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1008}
    await _assert_next_is_a_request_of_its_own(other_ws, world["rp"], world["citizen"])  # still connected
    await other_ws.disconnect()


async def test_a_revocation_whose_broadcast_was_lost_is_caught_before_the_next_event(world, monkeypatch):
    ws = _device_ws(world["device"])
    assert (await ws.connect(timeout=10))[0]
    # Revoked behind the socket's back (as if the device.revoked broadcast was lost): the socket
    # re-reads the device's status before an event once its last read is ACTIVE_RECHECK old.
    await db(Device.objects.filter(id=world["device"].id).update)(status=Device.Status.REVOKED)
    monkeypatch.setattr(DeviceConsumer, "ACTIVE_RECHECK", 0.0)
    await db(_create)(world["rp"], world["citizen"])
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1008}


async def test_an_active_device_is_not_re_read_for_every_event(world, monkeypatch):
    import approvals.consumers

    ws = _device_ws(world["device"])
    assert (await ws.connect(timeout=10))[0]
    reads: list[object] = []
    real = approvals.consumers.database_sync_to_async
    monkeypatch.setattr(approvals.consumers, "database_sync_to_async", lambda fn: reads.append(fn) or real(fn))
    approval = await db(_create)(world["rp"], world["citizen"])
    assert (await ws.receive_json_from())["approval"]["id"] == str(approval.id)
    await db(_finalize)(approval, "denied")
    assert (await ws.receive_json_from())["type"] == "approval.closed"
    assert reads == []  # two events, no database trip by the socket
    await ws.disconnect()


async def test_rp_gets_the_resource_at_once_and_after_the_change_then_close_1000(world):
    approval = await db(_create)(world["rp"], world["citizen"])
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0]
    first = await ws.receive_json_from()
    assert first["id"] == str(approval.id) and first["status"] == "pending" and first["login_hint"] == world["citizen"].user_id
    assert set(first) == {
        "id", "type", "status", "login_hint", "binding_message", "payment", "verification_code",
        "created_at", "expires_at", "decided_at", "result",
    }  # fmt: skip
    await db(_finalize)(approval, "denied")
    second = await ws.receive_json_from()
    assert second["status"] == "denied" and second["decided_at"].endswith("Z")
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1000}


async def test_rp_already_final_at_connect_gets_it_then_close(world):
    approval = await db(make_approval)(rp=world["rp"], citizen=world["citizen"], status="approved", decided_at=timezone.now())
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0]
    assert (await ws.receive_json_from())["status"] == "approved"
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1000}


async def test_rp_handshake_refused_for_wrong_key_other_rp_unknown_or_bad_id(world):
    approval = await db(make_approval)(rp=world["rp"], citizen=world["citizen"])
    other_rp = await db(RelyingPartyFactory)()
    for ws in (
        _rp_ws(approval.id, "nrp_wrong"),
        _rp_ws(approval.id, "x" * 5000),
        _rp_ws(approval.id, other_rp.api_key),
        _rp_ws(uuid.uuid4(), world["rp"].api_key),
        _rp_ws("not-a-uuid", world["rp"].api_key),
        WebsocketCommunicator(application, f"/ws/v1/approvals/{approval.id}"),
        WebsocketCommunicator(application, "/ws/v1/nothing"),
    ):
        connected, _ = await ws.connect(timeout=10)
        assert not connected


async def test_a_wrong_key_is_refused_before_the_socket_joins_the_channel_layer(world, monkeypatch):
    from approvals.consumers import ApprovalConsumer

    joined: list[str] = []
    real_join = ApprovalConsumer._join

    async def recording_join(self, group):  # type: ignore[no-untyped-def]
        joined.append(group)
        return await real_join(self, group)

    monkeypatch.setattr(ApprovalConsumer, "_join", recording_join)
    approval = await db(make_approval)(rp=world["rp"], citizen=world["citizen"])
    for key in ("nrp_wrong", "x" * 5000):
        assert not (await _rp_ws(approval.id, key).connect(timeout=10))[0]
    assert joined == []
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0] and joined == [approval_group(approval.id)]
    await ws.disconnect()


async def test_browser_origin_must_be_an_allowed_host(world):
    token = world["device"].phone.token("GET", "/ws/v1/device")
    evil = WebsocketCommunicator(
        application,
        "/ws/v1/device",
        headers=[(b"authorization", f"Device {token}".encode()), (b"origin", b"https://evil.example")],
    )
    assert not (await evil.connect(timeout=10))[0]


async def test_rp_sees_expiry_while_connected(world):
    approval = await db(_create)(world["rp"], world["citizen"])
    await db(ApprovalRequest.objects.filter(id=approval.id).update)(expires_at=timezone.now() + datetime.timedelta(seconds=0.3))
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0]
    assert (await ws.receive_json_from())["status"] == "pending"
    assert (await ws.receive_json_from(timeout=3))["status"] == "expired"
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1000}
    await asyncio.sleep(0)


async def test_browser_device_authenticates_with_the_token_as_subprotocol(world):
    token = world["device"].phone.token("GET", "/ws/v1/device")
    ws = WebsocketCommunicator(application, "/ws/v1/device", subprotocols=["nemid-device", token])
    connected, subprotocol = await ws.connect(timeout=10)
    assert connected and subprotocol == "nemid-device"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


async def test_subprotocol_token_is_checked_like_the_header(world):
    phone = world["device"].phone
    for offered in (
        ["nemid-device", phone.token("GET", "/ws/v1/other")],  # wrong htu
        ["nemid-device", phone.token("GET", "/ws/v1/device", lifetime=301)],  # lives too long
        ["other", phone.token("GET", "/ws/v1/device")],  # not our subprotocol
        ["nemid-device"],  # no token
    ):
        ws = WebsocketCommunicator(application, "/ws/v1/device", subprotocols=offered)
        connected, _ = await ws.connect(timeout=10)
        assert not connected, offered


async def test_rp_sees_a_change_whose_event_was_lost(world, monkeypatch, settings):
    # The decision's broadcast never arrives (published before Redis had the socket's subscription in
    # effect, or while Redis restarted): the socket's own re-read finds the final status.
    import approvals.events

    settings.NEMID_LONG_POLL_RECHECK_INTERVAL = 0.2
    approval = await db(_create)(world["rp"], world["citizen"])
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0]
    assert (await ws.receive_json_from())["status"] == "pending"
    monkeypatch.setattr(approvals.events, "broadcast_on_commit", lambda messages: None)
    await db(_finalize)(approval, "approved")
    assert (await ws.receive_json_from(timeout=5))["status"] == "approved"
    assert await ws.receive_output(timeout=1) == {"type": "websocket.close", "code": 1000}


async def test_a_socket_closed_during_a_re_read_leaves_no_timer_behind(world, monkeypatch, settings):
    import threading

    import approvals.consumers

    settings.NEMID_LONG_POLL_RECHECK_INTERVAL = 0.05
    approval = await db(_create)(world["rp"], world["citizen"])
    ws = _rp_ws(approval.id, world["rp"].api_key)
    assert (await ws.connect(timeout=10))[0]
    assert (await ws.receive_json_from())["status"] == "pending"
    reading, release = threading.Event(), threading.Event()
    reads: list[bool] = []
    real = approvals.consumers._current

    def slow_current(approval_id, *, expire=False):  # type: ignore[no-untyped-def]
        reads.append(expire)
        reading.set()
        release.wait(10)
        return real(approval_id, expire=expire)

    monkeypatch.setattr(approvals.consumers, "_current", slow_current)
    assert await asyncio.to_thread(reading.wait, 10)  # a re-read is under way
    await ws.disconnect()
    release.set()
    await asyncio.sleep(0.5)  # ten re-read intervals: none follows a closed socket
    assert reads == [True]
