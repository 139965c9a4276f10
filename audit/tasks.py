"""Celery tasks of the audit log: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_seal


@shared_task(name="audit.tasks.seal_audit_log", ignore_result=True)
def seal_audit_log() -> int:
    """Scheduled by beat (settings.CELERY_BEAT_SCHEDULE; in embedded mode by the in-process job
    runner): seal the entries that can no longer change, write a signed checkpoint when one is due."""
    return audit_seal().sealed
