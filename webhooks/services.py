"""Writes of the webhook outbox: creating an event (inside the transaction of the change it
reports) and making one delivery attempt per Standard Webhooks (https://www.standardwebhooks.com/).

Delivery is at least once. Every attempt of one event carries the same `webhook-id`, so a receiver
can drop duplicates. An attempt first *claims* the event by moving its `next_attempt_at` a lease
into the future with one conditional UPDATE; only the worker whose UPDATE matched sends. No row
lock is held during the HTTP request, so a slow endpoint blocks nothing else (and SQLite works too).
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from audit.services import audit_append
from nemid_app_backend import metrics
from nemid_app_backend import secrets as app_secrets
from nemid_app_backend.outbound import DestinationRefused, outbound_client
from relying_parties.models import RelyingParty
from webhooks.app_settings import app_settings
from webhooks.models import WebhookAttempt, WebhookEvent
from webhooks.selectors import webhook_secret_for

logger = logging.getLogger(__name__)

USER_AGENT = "nemid-app-backend-webhooks/1"
AUTHORIZATION_PURPOSE = "webhook-authorization"


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one call of `webhook_deliver` did. `retry_in`: seconds until the event is due again."""

    status: str  # "delivered" | "failed" | "gave_up" | "not_due" | "skipped"
    retry_in: float | None = None


def new_msg_id() -> str:
    return "msg_" + secrets.token_hex(16)


@transaction.atomic
def webhook_event_create(
    *,
    relying_party: RelyingParty,
    event_type: str,
    url: str,
    data: dict[str, Any],
    object_id: str,
    payload: dict[str, Any] | None = None,
    bearer_token: str = "",
) -> WebhookEvent:
    """Write the outbox row for one event; call inside the transaction of the change it reports.

    The body is `{"type": event_type, "data": data}` unless a protocol prescribes its own `payload`
    (a CIBA ping is `{"auth_req_id"}`); `bearer_token` adds `Authorization: Bearer <token>`, kept
    encrypted until it is sent."""
    return WebhookEvent.objects.create(
        msg_id=new_msg_id(),
        relying_party=relying_party,
        event_type=event_type,
        url=url,
        payload=payload if payload is not None else {"type": event_type, "data": data},
        object_id=object_id,
        next_attempt_at=timezone.now(),
        authorization_encrypted=(
            app_secrets.encrypt(f"Bearer {bearer_token}".encode(), purpose=AUTHORIZATION_PURPOSE) if bearer_token else ""
        ),
    )


def backoff_delay(attempts: int) -> float:
    """Exponential backoff after `attempts` failed attempts (5 s, 10 s, 20 s, ... capped at 1 h),
    with up to 10 % jitter so that events failing together do not retry in lockstep."""
    delay = min(app_settings.BACKOFF_BASE * 2 ** max(attempts - 1, 0), app_settings.BACKOFF_CAP)
    return delay * (1 + random.random() / 10)  # noqa: S311 - jitter, not a secret


def webhook_body(event: WebhookEvent) -> str:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)


def webhook_headers(event: WebhookEvent, *, body: str, now: datetime.datetime) -> dict[str, str]:
    signature = Webhook(webhook_secret_for(event.relying_party)).sign(event.msg_id, now, body)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    if event.authorization_encrypted:
        headers["authorization"] = app_secrets.decrypt(event.authorization_encrypted, purpose=AUTHORIZATION_PURPOSE).decode()
    return headers


def _claim(event_id: int, *, lease: datetime.datetime | None = None) -> bool:
    """Take the event for one attempt: it must be due, or still hold the re-drive lease `lease`
    that the beat gave the task carrying it."""
    now = timezone.now()
    due = Q(next_attempt_at__lte=now)
    if lease is not None:
        due |= Q(next_attempt_at=lease)
    claimed = WebhookEvent.objects.filter(due, pk=event_id, status=WebhookEvent.Status.PENDING).update(
        next_attempt_at=now + datetime.timedelta(seconds=app_settings.LEASE), attempts=F("attempts") + 1
    )
    return claimed == 1


def webhook_events_lease_due(*, limit: int) -> tuple[list[int], datetime.datetime]:
    """For the beat's re-drive: lease the due pending events (next attempt moved one lease ahead)
    and return their ids with the lease. A task for each then claims its event by that lease;
    while the lease runs, the event is not due, so the beat never queues it twice, and a task that
    is lost again only delays it by one lease."""
    now = timezone.now()
    lease = now + datetime.timedelta(seconds=app_settings.LEASE)
    ids = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    WebhookEvent.objects.filter(pk__in=ids, status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=lease
    )
    # A worker that claimed one of them in between set its own lease, and keeps it.
    leased = list(WebhookEvent.objects.filter(pk__in=ids, next_attempt_at=lease).values_list("pk", flat=True))
    return leased, lease


@functools.lru_cache(maxsize=4)
def _client(timeout: float) -> httpx.Client:
    """One client per process: building one (its TLS context and CA bundle) costs ~35 ms of CPU."""
    return outbound_client(timeout=timeout)


def _post(url: str, *, body: str, headers: dict[str, str]) -> tuple[int | None, str]:
    """One POST through the outbound rule; (status code, error text). A destination the rule
    refuses is a failed attempt (nothing is sent); redirects are not followed: a 3xx is a failure."""
    try:
        response = _client(app_settings.TIMEOUT).post(url, content=body.encode(), headers=headers)
    except DestinationRefused as exc:
        return None, f"refused: {exc}"[:500]
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def webhook_deliver(*, event_id: int, lease: datetime.datetime | None = None) -> DeliveryOutcome:
    """Make one delivery attempt of a due (or leased to this task) pending event and record it."""
    event = WebhookEvent.objects.select_related("relying_party").filter(pk=event_id).first()
    if event is None or event.status != WebhookEvent.Status.PENDING:
        return DeliveryOutcome("skipped")
    if not _claim(event.pk, lease=lease):
        event.refresh_from_db(fields=["status", "next_attempt_at"])
        if event.status != WebhookEvent.Status.PENDING:
            return DeliveryOutcome("skipped")
        # Another worker holds it, or its next attempt is later: that worker (or the beat's
        # deliver_due_webhooks, once a dead worker's lease runs out) takes care of it.
        return DeliveryOutcome("not_due")
    event.refresh_from_db(fields=["attempts", "next_attempt_at"])

    now = timezone.now()
    body = webhook_body(event)
    try:
        headers = webhook_headers(event, body=body, now=now)
    except Exception as exc:  # an unreadable stored secret: an operator must fix it; keep retrying meanwhile
        logger.error("webhook %s cannot be signed: %s", event.msg_id, type(exc).__name__)
        return _record_attempt(event, status_code=None, error="cannot sign: the webhook secret is unreadable", duration_ms=0)
    started = time.monotonic()
    status_code, error = _post(event.url, body=body, headers=headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record_attempt(event, status_code=status_code, error=error, duration_ms=duration_ms)


@transaction.atomic
def _record_attempt(event: WebhookEvent, *, status_code: int | None, error: str, duration_ms: int) -> DeliveryOutcome:
    outcome = _record_attempt_outcome(event, status_code=status_code, error=error, duration_ms=duration_ms)
    metrics.on_commit(metrics.child(metrics.WEBHOOK_ATTEMPTS, outcome.status).inc)
    return outcome


def _record_attempt_outcome(event: WebhookEvent, *, status_code: int | None, error: str, duration_ms: int) -> DeliveryOutcome:
    WebhookAttempt.objects.create(event=event, status_code=status_code, error=error, duration_ms=duration_ms)
    now = timezone.now()
    audit_data = {"msg_id": event.msg_id, "event_type": event.event_type, "attempts": event.attempts, "status_code": status_code}
    if not error:
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.DELIVERED, delivered_at=now, last_error="")
        audit_append(action="webhook.delivered", object_type="webhook_event", object_id=event.pk, data=audit_data)
        return DeliveryOutcome("delivered")
    logger.info("webhook %s attempt %s failed: %s", event.msg_id, event.attempts, error)
    if (now - event.created_at).total_seconds() >= app_settings.RETRY_PERIOD:
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.GAVE_UP, last_error=error)
        audit_append(action="webhook.gave_up", object_type="webhook_event", object_id=event.pk, data=audit_data)
        return DeliveryOutcome("gave_up")
    delay = backoff_delay(event.attempts)
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=now + datetime.timedelta(seconds=delay), last_error=error)
    return DeliveryOutcome("failed", retry_in=delay)


@transaction.atomic
def webhook_event_redeliver(*, event: WebhookEvent, actor: str) -> WebhookEvent:
    """Operator action: make an event (delivered, given up or pending) due again now, same webhook-id."""
    event = WebhookEvent.objects.select_for_update().get(pk=event.pk)
    event.status = WebhookEvent.Status.PENDING
    event.next_attempt_at = timezone.now()
    event.save(update_fields=["status", "next_attempt_at"])
    audit_append(
        action="webhook.redeliver", object_type="webhook_event", object_id=event.pk, actor=actor, data={"msg_id": event.msg_id}
    )
    return event
