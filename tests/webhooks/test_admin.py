"""Operators see events with their attempts, filter them, and redeliver."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import CitizenFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply, make_approval
from webhooks.models import WebhookEvent
from webhooks.services import webhook_deliver, webhook_event_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def _event(url: str) -> WebhookEvent:
    rp: Any = RelyingPartyFactory()
    approval = make_approval(rp=rp, citizen=CitizenFactory())
    return webhook_event_create(
        relying_party=rp, event_type="approval.expired", url=url, data={"id": str(approval.id)}, object_id=str(approval.id)
    )


def test_admin_lists_filters_and_shows_attempts(admin_client):
    with Receiver(Reply(500)) as receiver:
        event = _event(receiver.url + "/h")
        webhook_deliver(event_id=event.pk)
    listing = admin_client.get(
        reverse("admin:webhooks_webhookevent_changelist"), {"status__exact": "pending", "event_type": "approval.expired"}
    )
    assert listing.status_code == 200 and event.msg_id in listing.content.decode()
    assert (
        event.msg_id
        not in admin_client.get(
            reverse("admin:webhooks_webhookevent_changelist"), {"status__exact": "delivered"}
        ).content.decode()
    )
    page = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    assert "HTTP 500" in page and "500" in page


def test_admin_cannot_edit_or_delete_events(admin_client):
    event = _event("https://rp.example/h")
    response = admin_client.post(reverse("admin:webhooks_webhookevent_change", args=[event.pk]), {"url": "https://evil.example/"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.url == "https://rp.example/h"
    assert admin_client.post(reverse("admin:webhooks_webhookevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403


def test_admin_redeliver_action_sends_again_with_the_same_webhook_id(admin_client, django_capture_on_commit_callbacks):
    with Receiver(Reply(200)) as receiver:
        event = _event(receiver.url + "/h")
        webhook_deliver(event_id=event.pk)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:webhooks_webhookevent_changelist"), {"action": "redeliver", "_selected_action": [event.pk]}
            )
    assert response.status_code == 302
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.msg_id, event.msg_id]
    event.refresh_from_db()
    assert event.status == "delivered" and event.delivery_attempts.count() == 2


@pytest.mark.parametrize("codenames", [["view_webhookevent"], ["view_webhookevent", "change_webhookevent"]])
def test_redeliver_needs_the_change_permission(client, django_user_model, codenames):
    from django.contrib.auth.models import Permission

    from tests.conftest import staff_login

    operator = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    operator.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    staff_login(client, operator)
    event = _event("https://rp.example/h")
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.GAVE_UP)
    listing = client.get(reverse("admin:webhooks_webhookevent_changelist")).content.decode()
    response = client.post(
        reverse("admin:webhooks_webhookevent_changelist"), {"action": "redeliver", "_selected_action": [event.pk]}
    )
    event.refresh_from_db()
    allowed = "change_webhookevent" in codenames
    assert ('value="redeliver"' in listing) is allowed
    assert event.status == (WebhookEvent.Status.PENDING if allowed else WebhookEvent.Status.GAVE_UP)
    assert AuditEntry.objects.filter(action="webhook.redeliver").exists() is allowed
    assert response.status_code in (200, 302)
