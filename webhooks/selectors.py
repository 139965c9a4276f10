"""Reads of the webhook outbox."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from nemid_app_backend import secrets
from relying_parties.models import RelyingParty
from webhooks.models import WebhookEvent

WEBHOOK_SECRET_PURPOSE = "webhook-secret"


def webhook_events_due(*, now: datetime.datetime | None = None, limit: int = 500) -> QuerySet[WebhookEvent]:
    """Pending events whose next attempt is due, oldest first."""
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now or timezone.now()).order_by(
        "next_attempt_at"
    )[:limit]


def webhook_secret_for(relying_party: RelyingParty) -> str:
    """The RP's clear `whsec_` secret, decrypted from its at-rest form only when signing."""
    return secrets.decrypt(relying_party.webhook_secret_encrypted, purpose=WEBHOOK_SECRET_PURPOSE).decode()
