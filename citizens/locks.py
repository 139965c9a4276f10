"""The §7 limits that protect a citizen: failed-attempt counting, the 5-strike lock, the login
block after a fraud report, and the operator's unlock. The approval engine calls them.

Every write locks the Citizen row (select_for_update) so concurrent failures are all counted.
Lock order, shared with the approval services: an ApprovalRequest row first, then its Citizen row.
"""

from __future__ import annotations

import datetime
import math

from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from citizens.app_settings import app_settings
from citizens.models import Citizen
from nemid_app_backend import metrics


def citizen_is_locked(citizen: Citizen, *, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    return citizen.locked_until is not None and citizen.locked_until > now


def citizen_login_blocked(citizen: Citizen, *, now: datetime.datetime | None = None) -> bool:
    """True while a fraud report blocks new login requests (payments are not blocked)."""
    now = now or timezone.now()
    return citizen.login_blocked_until is not None and citizen.login_blocked_until > now


def seconds_until(moment: datetime.datetime | None, *, now: datetime.datetime | None = None) -> int:
    """Whole seconds (at least 1) until `moment`: the value of a Retry-After header."""
    now = now or timezone.now()
    if moment is None:
        return 1
    return max(1, math.ceil((moment - now).total_seconds()))


@transaction.atomic
def citizen_record_failed_attempt(*, citizen_id: int, reason: str, actor: str, approval_id: str | None = None) -> Citizen:
    """Count one failed attempt; the threshold-th consecutive one locks the citizen for LOCK_PERIOD.

    The count restarts at zero when the lock is set, so a citizen whose lock ran out gets the full
    number of attempts again."""
    citizen = Citizen.objects.select_for_update().get(pk=citizen_id)
    now = timezone.now()
    citizen.failed_attempts += 1
    audit_append(
        action="citizen.failed_attempt",
        object_type="citizen",
        object_id=citizen.user_id,
        actor=actor,
        data={"reason": reason, "approval_id": approval_id, "failed_attempts": citizen.failed_attempts},
    )
    if citizen.failed_attempts >= app_settings.LOCK_THRESHOLD:
        citizen.locked_until = now + datetime.timedelta(seconds=app_settings.LOCK_PERIOD)
        audit_append(
            action="citizen.locked",
            object_type="citizen",
            object_id=citizen.user_id,
            actor=actor,
            data={"failed_attempts": citizen.failed_attempts, "locked_until": citizen.locked_until.isoformat()},
        )
        citizen.failed_attempts = 0
        metrics.citizen_locked(reason="failed_attempts")
    citizen.save(update_fields=["failed_attempts", "locked_until"])
    return citizen


def citizen_record_success(*, citizen_id: int) -> None:
    """A valid decision resets the consecutive-failure count (one statement; no lock needed)."""
    Citizen.objects.filter(pk=citizen_id, failed_attempts__gt=0).update(failed_attempts=0)


@transaction.atomic
def citizen_report_fraud(*, citizen_id: int, approval_id: str, actor: str) -> Citizen:
    """A deny with report_fraud: block new login requests for LOCK_PERIOD and flag for operators."""
    citizen = Citizen.objects.select_for_update().get(pk=citizen_id)
    now = timezone.now()
    citizen.fraud_reported_at = now
    citizen.login_blocked_until = now + datetime.timedelta(seconds=app_settings.LOCK_PERIOD)
    citizen.save(update_fields=["fraud_reported_at", "login_blocked_until"])
    audit_append(
        action="citizen.fraud_reported",
        object_type="citizen",
        object_id=citizen.user_id,
        actor=actor,
        data={"approval_id": approval_id, "login_blocked_until": citizen.login_blocked_until.isoformat()},
    )
    metrics.citizen_locked(reason="fraud_report")
    return citizen


@transaction.atomic
def citizen_unlock(*, citizen: Citizen, actor: str) -> Citizen:
    """Clear the lock, the failed-attempt count and any fraud login block; audited.

    `fraud_reported_at` stays: it is the operators' record that fraud was reported."""
    locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
    previous = {
        "locked_until": locked.locked_until.isoformat() if locked.locked_until else None,
        "login_blocked_until": locked.login_blocked_until.isoformat() if locked.login_blocked_until else None,
        "failed_attempts": locked.failed_attempts,
    }
    locked.locked_until = None
    locked.login_blocked_until = None
    locked.failed_attempts = 0
    locked.save(update_fields=["locked_until", "login_blocked_until", "failed_attempts"])
    audit_append(action="citizen.unlocked", object_type="citizen", object_id=locked.user_id, actor=actor, data=previous)
    citizen.locked_until = locked.locked_until
    citizen.login_blocked_until = locked.login_blocked_until
    citizen.failed_attempts = 0
    return locked
