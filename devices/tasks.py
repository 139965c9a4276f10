"""Celery tasks of devices: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from devices.push import PushResult
from devices.push.services import approval_push_send


class PushRetryableError(Exception):
    """The provider answered with a transient error; Celery retries with backoff and jitter."""


@shared_task(
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
