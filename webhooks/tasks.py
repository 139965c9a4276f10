"""Celery tasks of webhook delivery: thin wrappers around webhooks.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from webhooks.app_settings import app_settings
from webhooks.selectors import webhook_events_due
from webhooks.services import webhook_deliver


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(event_id: int | str) -> str:
    """One attempt; after a failure the next one is scheduled with the event's backoff. Idempotent:
    a delivered, given-up or not-yet-due event is skipped, and the claim in webhook_deliver makes
    sure two workers never send one event at the same time."""
    outcome = webhook_deliver(event_id=int(event_id))
    if outcome.retry_in is not None and not deliver_webhook.app.conf.task_always_eager:
        deliver_webhook.apply_async(args=(event_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def deliver_due_webhooks() -> int:
    """Beat: enqueue every pending event that is due. This is the recovery path for an outbox row
    whose task was lost (broker down at commit, worker killed mid-delivery, countdown forgotten)."""
    ids: list[Any] = list(webhook_events_due(limit=app_settings.DUE_BATCH).values_list("pk", flat=True))
    for event_id in ids:
        deliver_webhook.apply_async(args=(event_id,))
    return len(ids)
