"""Reads of citizens, their activation codes and the requests for them."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from citizens.models import ActivationCode, ActivationCodeRequest, Citizen
from nemid_app_backend.db import FixedSelect
from nemid_app_backend.exceptions import UnknownUserError

# A statement of a flow's hot path, written once (docs/decisions/0003 has the measurements).
_LOCKED_BY_USER_ID = FixedSelect(Citizen, where=("user_id",), lock=())


def citizen_lock_by_user_id(*, user_id: str) -> Citizen | None:
    """The citizen with this user ID, its row locked until the transaction ends, or None."""
    return _LOCKED_BY_USER_ID.one(user_id)


def citizen_get_by_user_id(*, user_id: Any) -> Citizen:
    """The citizen with this user ID, or 422 unknown_user (also for values that are not user IDs)."""
    if not isinstance(user_id, str) or len(user_id) != 10 or not user_id.isascii() or not user_id.isdigit():
        raise UnknownUserError()
    citizen = Citizen.objects.filter(user_id=user_id).first()
    if citizen is None:
        raise UnknownUserError()
    return citizen


def citizen_has_password(*, citizen: Citizen) -> bool:
    """Whether the citizen has chosen a password (§9)."""
    return Citizen.objects.filter(pk=citizen.pk).exclude(password_hash="").exists()


def citizen_find_by_cpr(*, cpr: str) -> Citizen | None:
    """The citizen enrolled with this CPR number (matched by its keyed hash), if any."""
    from citizens.cpr import CprError, parse_cpr
    from citizens.services import CPR_PURPOSE
    from nemid_app_backend.secrets import keyed_hash

    try:
        parsed = parse_cpr(cpr) if isinstance(cpr, str) and cpr.isascii() else None
    except CprError:
        return None
    if parsed is None:
        return None
    return Citizen.objects.filter(cpr_hash=keyed_hash(CPR_PURPOSE, parsed.digits)).first()


def activation_code_citizen_id(*, code: str) -> int | None:
    """The id of the citizen who holds this normalised activation code, in any state (used, expired,
    usable), or None for an unknown code. For counting failures per citizen, never for deciding."""
    from citizens.services import activation_code_hash  # the code's keyed hash is written once, there

    return ActivationCode.objects.filter(code_hash=activation_code_hash(code)).values_list("citizen_id", flat=True).first()


def activation_code_requests_awaiting(*, now: datetime.datetime | None = None) -> QuerySet[ActivationCodeRequest]:
    """Requests still waiting for a second operator: pending and not past their expiry."""
    return ActivationCodeRequest.objects.filter(status=ActivationCodeRequest.Status.PENDING, expires_at__gt=now or timezone.now())


def activation_code_request_awaiting_for_citizen(*, citizen: Citizen) -> ActivationCodeRequest | None:
    """The citizen's request waiting for approval, if any (at most one: a constraint says so)."""
    return activation_code_requests_awaiting().filter(citizen=citizen).select_related("requested_by").first()
