"""Celery tasks of the OpenID provider: thin wrappers around oidc.services."""

from __future__ import annotations

from celery import shared_task

from oidc.services import oidc_records_purge


@shared_task(ignore_result=True)
def purge_expired() -> int:
    """Beat (hourly): expired hosted-page logins, codes and tokens are deleted."""
    return oidc_records_purge()
