"""What the scrape asks the webhook outbox: its backlog, the age of its oldest undelivered event
and the most attempts one of them has had (a stuck receiver shows as a growing age)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from webhooks.models import WebhookEvent


def webhook_outbox_metrics() -> Iterable[Metric]:
    pending = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).aggregate(
        backlog=Count("pk"), oldest=Min("created_at"), attempts=Max("attempts")
    )
    oldest = pending["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    yield GaugeMetricFamily("nemid_webhook_outbox_backlog", "Webhook events not yet delivered.", value=float(pending["backlog"]))
    yield GaugeMetricFamily(
        "nemid_webhook_oldest_undelivered_seconds", "Age of the oldest webhook event not yet delivered.", value=max(age, 0.0)
    )
    yield GaugeMetricFamily(
        "nemid_webhook_undelivered_max_attempts",
        "Most delivery attempts made for one event not yet delivered.",
        value=float(pending["attempts"] or 0),
    )
    gave_up = WebhookEvent.objects.filter(status=WebhookEvent.Status.GAVE_UP).count()
    yield GaugeMetricFamily("nemid_webhook_gave_up", "Webhook events given up after the retry period.", value=float(gave_up))
