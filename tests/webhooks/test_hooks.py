"""The finalized hook writes the outbox row in the transaction of the change and delivers it on commit."""

from __future__ import annotations

import pytest
from django.db import transaction
from standardwebhooks import Webhook

from approvals.events import approval_request_finalized, approval_resource
from approvals.models import ApprovalRequest
from approvals.services import approval_request_cancel
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply, make_approval
from threeds.models import ThreeDSAuthentication
from threeds.selectors import threeds_rreq
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def _finalize(approval: ApprovalRequest, status: str) -> None:
    with transaction.atomic():
        approval.status = status
        approval.save(update_fields=["status"])
        approval_request_finalized(approval)


@pytest.mark.parametrize(
    ("rp_url", "approval_url", "expected"),
    [
        ("https://rp.example/default", "https://rp.example/this-one", "https://rp.example/this-one"),
        ("https://rp.example/default", "", "https://rp.example/default"),
        ("", "https://rp.example/this-one", "https://rp.example/this-one"),
    ],
)
def test_outbox_row_uses_the_request_url_before_the_rp_default(rp_url, approval_url, expected):
    approval = make_approval(rp=RelyingPartyFactory(callback_url=rp_url), citizen=CitizenFactory(), callback_url=approval_url)
    _finalize(approval, "denied")  # on_commit does not run inside the test transaction: nothing is sent
    event = WebhookEvent.objects.get(object_id=str(approval.id))
    assert event.url == expected and event.status == "pending" and event.event_type == "approval.denied"
    assert event.payload == {"type": "approval.denied", "data": approval_resource(approval)}


def test_no_url_no_event():
    approval = make_approval(rp=RelyingPartyFactory(), citizen=CitizenFactory())
    _finalize(approval, "expired")
    assert not WebhookEvent.objects.exists()


def test_rolled_back_change_leaves_no_event():
    approval = make_approval(rp=RelyingPartyFactory(callback_url="https://rp.example/h"), citizen=CitizenFactory())
    with pytest.raises(RuntimeError), transaction.atomic():
        approval_request_finalized(approval)
        raise RuntimeError("the transition failed after the hook")
    assert not WebhookEvent.objects.exists()


def test_cancel_through_the_engine_is_delivered_on_commit_signed(django_capture_on_commit_callbacks):
    with Receiver(Reply(200)) as receiver:
        rp = RelyingPartyFactory(callback_url=receiver.url + "/hooks")
        citizen = CitizenFactory()
        DeviceFactory(citizen=citizen)
        approval = make_approval(rp=rp, citizen=citizen)
        with django_capture_on_commit_callbacks(execute=True):
            approval_request_cancel(relying_party=rp, approval_id=approval.id)
    assert len(receiver.received) == 1
    payload = Webhook(rp.webhook_secret).verify(receiver.received[0].body, receiver.received[0].headers)
    approval.refresh_from_db()
    assert payload == {"type": "approval.cancelled", "data": approval_resource(approval)}
    assert payload["data"]["status"] == "cancelled"
    assert WebhookEvent.objects.get().status == "delivered"


def test_3ds_request_sends_the_rreq_as_3ds_result():
    rp = RelyingPartyFactory(callback_url="https://issuer.example/3ds", allowed_types=["3ds"])
    approval = make_approval(rp=rp, citizen=CitizenFactory())
    authentication = ThreeDSAuthentication.objects.create(
        relying_party=rp,
        three_ds_server_trans_id="8a880dc0-d2d2-4067-bcb1-b08d1690b26e",
        message_version="2.2.0",
        approval=approval,
        purchase_amount_minor="14995",
        purchase_currency_numeric="208",
        purchase_exponent="2",
        merchant_name="Webshop ApS",
        initial_trans_status="D",
    )
    _finalize(approval, "denied")
    event = WebhookEvent.objects.get()
    authentication.refresh_from_db()
    assert event.event_type == "3ds.result"
    assert event.payload == {"type": "3ds.result", "data": threeds_rreq(authentication)}
    assert event.payload["data"]["transStatus"] == "N"
