"""Reads of approval requests. Lazy expiry (a write) is the services' job; these only read."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from approvals.models import ApprovalRequest
from devices.models import Device
from nemid_app_backend.db import FixedSelect
from relying_parties.models import RelyingParty

_FOR_RELYING_PARTY = FixedSelect(ApprovalRequest, where=("id", "relying_party"), related=("relying_party", "citizen"))


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
