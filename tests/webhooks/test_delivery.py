"""Webhook delivery (docs/contract §5) against a local HTTP server that verifies Standard Webhooks signatures."""

from __future__ import annotations

import datetime
import json

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from approvals.events import approval_resource
from tests.factories import CitizenFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply, make_approval
from webhooks.models import WebhookAttempt, WebhookEvent
from webhooks.services import backoff_delay, webhook_deliver, webhook_event_create
from webhooks.tasks import deliver_due_webhooks, deliver_webhook

pytestmark = pytest.mark.django_db


def _event(receiver: Receiver, rp=None, path: str = "/hooks/nemid") -> WebhookEvent:  # type: ignore[no-untyped-def]
    rp = rp or RelyingPartyFactory()
    approval = make_approval(rp=rp, citizen=CitizenFactory(), status="approved", decided_at=timezone.now())
    event = webhook_event_create(
        relying_party=rp,
        event_type="approval.approved",
        url=receiver.url + path,
        data=approval_resource(approval),
        object_id=str(approval.id),
    )
    event.test_secret = rp.webhook_secret  # type: ignore[attr-defined]
    return event


def _verify(event: WebhookEvent, received) -> dict:  # type: ignore[no-untyped-def]
    """What a receiver does: raises unless the signature verifies with the RP's secret."""
    return Webhook(event.test_secret).verify(received.body, received.headers)  # type: ignore[attr-defined]


def test_delivered_once_with_a_valid_signature():
    with Receiver(Reply(204)) as receiver:
        event = _event(receiver)
        assert deliver_webhook(event.pk) == "delivered"
        assert deliver_webhook(event.pk) == "skipped"  # idempotent: a delivered event is never sent again
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.path == "/hooks/nemid"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == event.msg_id and event.msg_id.startswith("msg_")
    assert abs(int(got.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 10
    payload = _verify(event, got)
    assert payload["type"] == "approval.approved"
    assert payload["data"]["id"] == event.object_id and payload["data"]["status"] == "approved"
    event.refresh_from_db()
    assert event.status == "delivered" and event.delivered_at is not None and event.attempts == 1
    assert list(WebhookAttempt.objects.filter(event=event).values_list("status_code", flat=True)) == [204]


def test_a_signature_with_another_secret_fails_verification():
    with Receiver() as receiver:
        event = _event(receiver)
        deliver_webhook(event.pk)
    event.test_secret = RelyingPartyFactory().webhook_secret  # type: ignore[attr-defined]
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        _verify(event, receiver.received[0])


def test_endpoint_down_then_up_is_delivered_later_with_the_same_webhook_id():
    with Receiver(Reply(503), Reply(200)) as receiver:
        event = _event(receiver)
        before = timezone.now()
        assert webhook_deliver(event_id=event.pk).status == "failed"
        event.refresh_from_db()
        assert event.status == "pending" and event.last_error == "HTTP 503"
        assert 5 <= (event.next_attempt_at - before).total_seconds() <= 7  # first backoff step: 5 s + jitter
        assert webhook_deliver(event_id=event.pk).status == "not_due"  # not before its time
        WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())  # time passes
        assert webhook_deliver(event_id=event.pk).status == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.msg_id, event.msg_id]
    for received in receiver.received:
        _verify(event, received)
    assert list(WebhookAttempt.objects.filter(event=event).order_by("attempted_at").values_list("status_code", flat=True)) == [
        503,
        200,
    ]


def test_unreachable_endpoint_is_a_failed_attempt():
    with Receiver() as receiver:
        event = _event(receiver)
    # the server is closed now: connection refused
    assert webhook_deliver(event_id=event.pk).status == "failed"
    attempt = WebhookAttempt.objects.get(event=event)
    assert attempt.status_code is None and attempt.error


def test_redirect_is_not_followed():
    with Receiver(Reply(302, headers={"location": "/elsewhere"}), Reply(200)) as receiver:
        event = _event(receiver)
        assert webhook_deliver(event_id=event.pk).status == "failed"
    assert [r.path for r in receiver.received] == ["/hooks/nemid"]
    assert WebhookAttempt.objects.get(event=event).status_code == 302
    event.refresh_from_db()
    assert event.status == "pending"


def test_timeout_is_a_failed_attempt(settings):
    settings.NEMID_WEBHOOK_TIMEOUT = 0.3
    with Receiver(Reply(200, delay=1.5)) as receiver:
        event = _event(receiver)
        assert webhook_deliver(event_id=event.pk).status == "failed"
    attempt = WebhookAttempt.objects.get(event=event)
    assert attempt.error == "timeout" and attempt.status_code is None


def test_gives_up_after_the_retry_period():
    with Receiver(Reply(500)) as receiver:
        event = _event(receiver)
        WebhookEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - datetime.timedelta(hours=24, seconds=1))
        assert webhook_deliver(event_id=event.pk).status == "gave_up"
        assert deliver_webhook(event.pk) == "skipped"
    event.refresh_from_db()
    assert event.status == "gave_up" and len(receiver.received) == 1


def test_backoff_doubles_from_5_seconds_and_is_capped_at_an_hour():
    assert 5 <= backoff_delay(1) <= 5.5
    assert 10 <= backoff_delay(2) <= 11
    assert 40 <= backoff_delay(4) <= 44
    assert 3600 <= backoff_delay(30) <= 3960
    # retries keep going for at least 24 h: the schedule needs many attempts to get there
    total, attempts = 0.0, 0
    while total < 24 * 3600:
        attempts += 1
        total += backoff_delay(attempts)
    assert attempts > 20


def test_two_workers_never_send_one_event_at_the_same_time():
    with Receiver(Reply(200, delay=0.5)) as receiver:
        event = _event(receiver)
        from webhooks.services import _claim

        assert _claim(event.pk) is True
        assert _claim(event.pk) is False  # the second worker sees the lease
        assert webhook_deliver(event_id=event.pk).status == "not_due"
    assert receiver.received == []


def test_due_webhooks_are_delivered_by_the_beat(celery_eager):
    """The crash-recovery path: committed outbox rows whose task was lost are still delivered."""
    with Receiver(Reply(200)) as receiver:
        due = _event(receiver)
        later = _event(receiver)
        WebhookEvent.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))
        assert deliver_due_webhooks() == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [due.msg_id]
    assert WebhookEvent.objects.get(pk=later.pk).status == "pending"


def test_the_body_is_what_was_signed_and_has_no_secret():
    with Receiver() as receiver:
        event = _event(receiver)
        deliver_webhook(event.pk)
    body = receiver.received[0].body.decode()
    assert json.loads(body) == event.payload
    assert event.test_secret.removeprefix("whsec_") not in body  # type: ignore[attr-defined]


def test_an_unreadable_secret_is_a_failed_attempt_not_a_crash():
    with Receiver() as receiver:
        event = _event(receiver)
        event.relying_party.__class__.objects.filter(pk=event.relying_party_id).update(webhook_secret_encrypted="garbage")
        assert webhook_deliver(event_id=event.pk).status == "failed"
    assert receiver.received == []
    assert "unreadable" in WebhookAttempt.objects.get(event=event).error


def test_the_beat_queues_a_backlog_once_per_lease_not_once_per_tick(monkeypatch):
    """A lost or slow queue must not be flooded: repeated ticks queue each due event once, and an
    event whose re-drive task was lost is queued again only after the lease runs out."""
    queued: list[tuple] = []
    monkeypatch.setattr(deliver_webhook, "apply_async", lambda args, **kw: queued.append(tuple(args)))
    with Receiver(Reply(200)) as receiver:
        event = _event(receiver)
        assert deliver_due_webhooks() == 1
        assert deliver_due_webhooks() == 0
        assert deliver_due_webhooks() == 0
        assert [args[0] for args in queued] == [event.pk]
        first_lease = queued[0][1]

        # The task carrying the first lease is lost; the lease runs out; the beat queues it again.
        WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))
        assert deliver_due_webhooks() == 1
        second_lease = queued[1][1]
        assert second_lease != first_lease

        # A late copy of the lost task finds its lease gone and sends nothing; the live one delivers.
        assert deliver_webhook(event.pk, first_lease) == "not_due"
        assert deliver_webhook(event.pk, second_lease) == "delivered"
        assert deliver_webhook(event.pk, second_lease) == "skipped"
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.msg_id]
