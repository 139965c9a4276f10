"""What the scrape asks the audit log: how long committed entries have waited for the sealer.

Entries are appended without a lock and linked into the keyed chain afterwards by the sealer
(Celery beat, every NEMID_AUDIT_SEAL_SECONDS). While an entry is unsealed a change to it is not
yet evident; a growing age means the sealer (or beat) is not running.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from audit.models import AuditEntry
from audit.selectors import audit_last_seal


def audit_seal_metrics() -> Iterable[Metric]:
    _, _, _, last_entry_id = audit_last_seal()
    # Walks the primary key from the last sealed entry: a few rows while the sealer keeps up.
    oldest = (
        AuditEntry.objects.filter(id__gt=last_entry_id, seal__isnull=True)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    yield GaugeMetricFamily(
        "nemid_audit_oldest_unsealed_seconds",
        "Age of the oldest audit entry the sealer has not yet linked into the chain.",
        value=max(age, 0.0),
    )
