"""Celery tasks of webhook delivery: thin wrappers around webhooks.services."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.db import transaction

from webhooks.app_settings import app_settings
from webhooks.models import WebhookEvent
from webhooks.services import webhook_deliver, webhook_events_lease_due

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(event_id: int | str, lease: str | None = None) -> str:
    """One attempt; after a failure the next one is scheduled with the event's backoff. Idempotent:
    a delivered, given-up or not-yet-due event is skipped, and the claim in webhook_deliver makes
    sure two workers never send one event at the same time."""
    leased_until = datetime.datetime.fromisoformat(lease) if lease else None
    outcome = webhook_deliver(event_id=int(event_id), lease=leased_until)
    if outcome.retry_in is not None and not deliver_webhook.app.conf.task_always_eager:
        deliver_webhook.apply_async(args=(event_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def deliver_due_webhooks() -> int:
    """Beat: enqueue every pending event that is due. This is the recovery path for an outbox row
    whose task was lost (broker down at commit, worker killed mid-delivery, countdown forgotten).
    Each event is leased before it is queued, so a backlog is queued once per lease, not once per
    beat tick."""
    ids, lease = webhook_events_lease_due(limit=app_settings.DUE_BATCH)
    for event_id in ids:
        deliver_webhook.apply_async(args=(event_id, lease.isoformat()))
    return len(ids)


def deliver_webhook_on_commit(event: WebhookEvent) -> None:
    """Queue the first attempt of an outbox row once its transaction commits. With the broker down
    the row stays due, and the beat's deliver_due_webhooks sends it later."""
    event_id = str(event.pk)

    def enqueue() -> None:
        try:
            deliver_webhook.apply_async(args=(event_id,), retry=False)
        except Exception as exc:
            logger.warning("could not enqueue webhook %s: %s: %s", event_id, type(exc).__name__, exc)

    transaction.on_commit(enqueue, robust=True)
