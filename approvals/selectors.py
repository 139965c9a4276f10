"""Reads of approval requests. Lazy expiry (a write) is the services' job; these only read."""

from __future__ import annotations

import datetime
import uuid

from django.db.models import QuerySet
from django.utils import timezone

from approvals.models import ApprovalRequest
from devices.models import Device
from nemid_app_backend.db import FixedSelect, one_or_none
from relying_parties.models import RelyingParty

# Statements of a flow's hot path, written once (docs/decisions/0003 has the measurements).
_FOR_RELYING_PARTY = FixedSelect(ApprovalRequest, where=("id", "relying_party"), related=("relying_party", "citizen"))
_LOCKED_WITH_CITIZEN = FixedSelect(
    ApprovalRequest, where=("id", "citizen"), related=("relying_party", "citizen"), lock=("self", "citizen")
)
_PENDING_EXPIRIES = FixedSelect(ApprovalRequest, where=("citizen", "status", "expires_at__gt"), values=("expires_at",))


def parse_approval_id(value: object) -> uuid.UUID | None:
    """A request id from a URL, or None when it is not a UUID (callers answer 404)."""
    if not isinstance(value, str | uuid.UUID):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def approval_get_for_relying_party(*, relying_party: RelyingParty, approval_id: object) -> ApprovalRequest | None:
    """The request if it exists and belongs to this RP; another RP's request is None (404)."""
    parsed = parse_approval_id(approval_id)
    if parsed is None:
        return None
    return _FOR_RELYING_PARTY.one(parsed, relying_party.pk)


def approval_lock_with_citizen(*, approval_id: object, citizen_id: int) -> ApprovalRequest | None:
    """The citizen's request with its RP and citizen, the request's and the citizen's rows locked
    (one statement, request first), or None: the decision's read."""
    parsed = parse_approval_id(approval_id)
    return _LOCKED_WITH_CITIZEN.one(parsed, citizen_id) if parsed is not None else None


def approval_lock(*, approval_id: object, relying_party: RelyingParty | None = None) -> ApprovalRequest | None:
    """The request (of this RP, when given) with its RP and citizen, its row locked, or None."""
    parsed = parse_approval_id(approval_id)
    if parsed is None:
        return None
    queryset = ApprovalRequest.objects.select_related("relying_party", "citizen").select_for_update(of=("self",))
    if relying_party is not None:
        queryset = queryset.filter(relying_party=relying_party)
    return one_or_none(queryset.filter(id=parsed))


def approval_pending_expiries(*, citizen_id: int, now: datetime.datetime) -> list[datetime.datetime]:
    """When each of the citizen's pending, unexpired requests expires: creation's pending limit."""
    return [expires_at for (expires_at,) in _PENDING_EXPIRIES.rows(citizen_id, ApprovalRequest.Status.PENDING, now)]


def approval_requests_pending_for_device(*, device: Device) -> QuerySet[ApprovalRequest]:
    """The citizen's pending, unexpired requests, newest first (docs/contract §6)."""
    return (
        ApprovalRequest.objects.select_related("relying_party")
        .filter(citizen_id=device.citizen_id, status=ApprovalRequest.Status.PENDING, expires_at__gt=timezone.now())
        .order_by("-created_at")
    )


def approval_has_overdue_pending(*, citizen_id: int) -> bool:
    return ApprovalRequest.objects.filter(
        citizen_id=citizen_id, status=ApprovalRequest.Status.PENDING, expires_at__lte=timezone.now()
    ).exists()
