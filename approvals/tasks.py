"""Celery tasks of the approval engine: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from approvals.push import send_push
from approvals.services import approvals_expire_overdue, idempotency_records_purge

__all__ = ["expire_overdue_approvals", "send_push"]  # send_push is defined with what it checks


@shared_task(name="approvals.tasks.expire_overdue_approvals", ignore_result=True)
def expire_overdue_approvals() -> int:
    """Scheduled by beat (settings.CELERY_BEAT_SCHEDULE): close overdue pending requests, forget old Idempotency-Keys."""
    expired = approvals_expire_overdue()
    idempotency_records_purge()
    return expired
