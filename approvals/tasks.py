"""Celery tasks of the approval engine: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from approvals.push import approval_push_send
from approvals.services import approvals_expire_overdue, idempotency_records_purge
from devices.push import PushResult


class PushRetryableError(Exception):
    """The provider answered with a transient error; Celery retries with backoff and jitter."""


@shared_task(name="approvals.tasks.expire_overdue_approvals", ignore_result=True)
def expire_overdue_approvals() -> int:
    """Scheduled by beat (settings.CELERY_BEAT_SCHEDULE): close overdue pending requests, forget old Idempotency-Keys."""
    expired = approvals_expire_overdue()
    idempotency_records_purge()
    return expired


@shared_task(
    # The name it had when it lived in devices: messages already queued under it still run.
    name="devices.tasks.send_push",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(PushRetryableError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def send_push(device_id: str, approval_id: str) -> str:
    """Push one approval to one device. Re-checks the world first (the request may be decided, the
    device revoked); a duplicate push is harmless because it carries only the approval id."""
    result = approval_push_send(device_id=device_id, approval_id=approval_id)
    if result is PushResult.RETRY:
        raise PushRetryableError(f"push of {approval_id} to {device_id} will be retried")
    return str(result or "skipped")
