"""Celery tasks of the approval engine: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from approvals.services import approvals_expire_overdue, idempotency_records_purge


@shared_task(name="approvals.tasks.expire_overdue_approvals", ignore_result=True)
def expire_overdue_approvals() -> int:
    """Scheduled by beat (settings.CELERY_BEAT_SCHEDULE): close overdue pending requests, forget old Idempotency-Keys."""
    expired = approvals_expire_overdue()
    idempotency_records_purge()
    return expired
