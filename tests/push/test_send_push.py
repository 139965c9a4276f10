"""The push task and the creation hook that schedules it: who is pushed, when a push is skipped,
what a dead token or a transient error does."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from approvals.services import approval_request_create
from approvals.tasks import send_push
from audit.models import AuditEntry
from devices.models import Device
from devices.push import PushResult
from devices.push.services import device_push_token_forget
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.push.test_fcm import _fcm, _google, rsa_key, service_account
from tests.realtime.helpers import Reply, make_approval

__all__ = ["rsa_key", "service_account"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def citizen():  # type: ignore[no-untyped-def]
    return CitizenFactory()


def _sends(receiver) -> list:  # type: ignore[no-untyped-def]
    return [r for r in receiver.received if r.path != "/token"]


def test_creating_a_request_pushes_each_active_device_with_a_push_channel(
    service_account, settings, citizen, django_capture_on_commit_callbacks
):
    receiver, _ = _google(Reply(200, body=b"{}"))
    pushed = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="fcm-token-1")
    DeviceFactory(citizen=citizen, push_provider="none")
    DeviceFactory(citizen=citizen, push_provider="fcm", push_token="")
    DeviceFactory(citizen=citizen, push_provider="fcm", push_token="revoked-token", status=Device.Status.REVOKED)
    DeviceFactory(push_provider="fcm", push_token="another-citizens-token")
    with receiver:
        _fcm(service_account, receiver, settings)
        with django_capture_on_commit_callbacks(execute=True):
            result = approval_request_create(
                relying_party=RelyingPartyFactory(),
                type="payment",
                login_hint=citizen.user_id,
                binding_message="Order 10023 at Webshop ApS",
                payment={"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
            )
    sends = _sends(receiver)
    assert [s.json()["message"]["token"] for s in sends] == ["fcm-token-1"]
    assert sends[0].json()["message"]["data"] == {"approval_id": str(result.approval.id)}
    entry = AuditEntry.objects.get(action="approval.pushed")
    assert entry.object_id == str(result.approval.id) and entry.data == {"device_id": str(pushed.id), "provider": "fcm"}


def test_nothing_is_pushed_when_the_transaction_rolls_back(
    service_account, settings, citizen, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from approvals.events import approval_request_created

    DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
    receiver, _ = _google(Reply(200))
    with receiver:
        _fcm(service_account, receiver, settings)
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError), transaction.atomic():
            approval_request_created(make_approval(rp=RelyingPartyFactory(), citizen=citizen))
            raise RuntimeError("rolled back")
    assert callbacks == [] and receiver.received == []


@pytest.mark.parametrize(
    "change",
    [
        lambda approval, device: approval.__class__.objects.filter(id=approval.id).update(status="approved"),
        lambda approval, device: approval.__class__.objects.filter(id=approval.id).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        ),
        lambda approval, device: Device.objects.filter(id=device.id).update(status=Device.Status.REVOKED),
        lambda approval, device: Device.objects.filter(id=device.id).update(push_token=""),
    ],
    ids=["decided", "expired", "device-revoked", "token-cleared"],
)
def test_push_is_skipped_when_it_no_longer_makes_sense(service_account, settings, citizen, change):
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    change(approval, device)
    receiver, _ = _google(Reply(200))
    with receiver:
        _fcm(service_account, receiver, settings)
        assert send_push(str(device.id), str(approval.id)) == "skipped"
    assert receiver.received == []


def test_push_to_another_citizens_device_is_skipped(citizen):
    device = DeviceFactory(push_provider="fcm", push_token="t")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    assert send_push(str(device.id), str(approval.id)) == "skipped"


def test_unregistered_token_is_cleared(service_account, settings, citizen):
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="dead-token")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    receiver, _ = _google(Reply(404, body=b'{"error": {"status": "NOT_FOUND"}}'))
    with receiver:
        _fcm(service_account, receiver, settings)
        assert send_push(str(device.id), str(approval.id)) == "unregistered"
    device.refresh_from_db()
    assert device.push_token == "" and device.push_provider == "fcm"
    assert AuditEntry.objects.filter(action="device.push_token_cleared", object_id=str(device.id)).exists()


def test_a_token_replaced_meanwhile_is_kept(citizen):
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="new-token")
    assert device_push_token_forget(device=device, token="old-token") is False
    device.refresh_from_db()
    assert device.push_token == "new-token"


def test_transient_errors_are_retried_then_succeed(service_account, settings, citizen):
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    answers = [Reply(503), Reply(429), Reply(200, body=b"{}")]
    receiver, _ = _google(Reply(200))
    token_responder = receiver.responder
    assert token_responder is not None
    receiver.responder = lambda r: token_responder(r) if r.path == "/token" else answers.pop(0)
    with receiver:
        _fcm(service_account, receiver, settings)
        result = send_push.apply(args=(str(device.id), str(approval.id)))
    assert result.get() == "ok"
    assert len(_sends(receiver)) == 3


def test_retries_stop_at_the_maximum(service_account, settings, citizen):
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    receiver, _ = _google(Reply(503))
    with receiver:
        _fcm(service_account, receiver, settings)
        result = send_push.apply(args=(str(device.id), str(approval.id)))
    assert result.failed()
    assert len(_sends(receiver)) == 1 + send_push.max_retries


def test_without_credentials_push_is_a_noop(settings, citizen):
    settings.NEMID_FCM_SERVICE_ACCOUNT_FILE = ""
    device = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
    approval = make_approval(rp=RelyingPartyFactory(), citizen=citizen)
    assert send_push(str(device.id), str(approval.id)) == PushResult.DISABLED
    assert not AuditEntry.objects.filter(action="approval.pushed").exists()


def test_push_with_malformed_ids_is_skipped():
    assert send_push("not-a-uuid", "also-not") == "skipped"
