"""Enrollment of citizens and their single-use activation codes (docs/contract §2, §3).

A citizen's CPR number is parsed, checked for eligibility and then forgotten: only its keyed
hash (for uniqueness), the birth date and a masked form are kept. Activation codes are 80 random
bits shown once as XXXX-XXXX-XXXX-XXXX (Crockford base32) and stored only as a keyed hash.
"""

from __future__ import annotations

import datetime
import re
import secrets
import unicodedata
import zoneinfo
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_append
from citizens import cpr as cpr_parser
from citizens.app_settings import app_settings
from citizens.models import ActivationCode, Citizen
from nemid_app_backend.exceptions import (
    AlreadyEnrolledError,
    InvalidActivationCodeError,
    InvalidCprError,
    UnderageError,
    ValidationError,
)
from nemid_app_backend.secrets import keyed_hash

CPR_PURPOSE = "cpr"
ACTIVATION_CODE_PURPOSE = "activation-code"

# Crockford base32: no I, L, O or U, so a code read aloud or typed is hard to get wrong.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
ACTIVATION_CODE_LENGTH = 16  # 16 x 5 bits = 80 bits of entropy
_CODE_SEPARATORS = re.compile(r"[\s\-]+")
_USER_ID_ATTEMPTS = 20


# --- clock: one place, so tests can freeze "today" ----------------------------------------------


def today_for_eligibility() -> datetime.date:
    """Today's calendar date where eligibility is decided (Europe/Copenhagen)."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(app_settings.ELIGIBILITY_TIME_ZONE)).date()


# --- activation codes ----------------------------------------------------------------------------


def activation_code_generate() -> str:
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(ACTIVATION_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, ACTIVATION_CODE_LENGTH, 4))


def activation_code_normalize(value: Any) -> str | None:
    """The canonical 16-character form of a typed code, or None if it cannot be a code.

    Case, dashes and spaces do not matter; I and L read as 1, O as 0 (Crockford)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    compact = _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper().translate(_CROCKFORD_ALIASES)
    if len(compact) != ACTIVATION_CODE_LENGTH or any(char not in _CROCKFORD for char in compact):
        return None
    return compact


def activation_code_hash(normalized: str) -> str:
    return keyed_hash(ACTIVATION_CODE_PURPOSE, normalized)


@transaction.atomic
def activation_code_issue(*, citizen: Citizen, actor: str) -> tuple[str, ActivationCode]:
    """Issue a new code for the citizen; returns (clear code, to show once, and its row).

    A new code supersedes the citizen's unused ones, so at most one code is ever usable."""
    now = timezone.now()
    ActivationCode.objects.filter(citizen=citizen, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    code = activation_code_generate()
    row = ActivationCode.objects.create(
        citizen=citizen,
        code_hash=activation_code_hash(activation_code_normalize(code) or ""),
        expires_at=now + app_settings.ACTIVATION_CODE_TTL,
        created_by=actor[:128],
    )
    audit_append(
        action="activation_code.issued",
        object_type="citizen",
        object_id=citizen.user_id,
        actor=actor,
        data={"activation_code_id": row.pk, "expires_at": row.expires_at.isoformat()},
    )
    return code, row


def activation_code_lock_usable(*, code: Any) -> ActivationCode:
    """Lock and return the unused, unexpired code row for `code` (call inside a transaction).

    Unknown, used and expired codes are indistinguishable: each raises invalid_activation_code."""
    normalized = activation_code_normalize(code)
    if normalized is None:
        raise InvalidActivationCodeError()
    row = (
        ActivationCode.objects.select_for_update()
        .select_related("citizen")
        .filter(code_hash=activation_code_hash(normalized))
        .first()
    )
    if row is None or row.used_at is not None or row.is_expired():
        raise InvalidActivationCodeError()
    return row


def activation_code_consume(*, activation_code: ActivationCode, actor: str) -> ActivationCode:
    """Mark a code locked by activation_code_lock_usable as used; audited."""
    activation_code.used_at = timezone.now()
    activation_code.save(update_fields=["used_at"])
    audit_append(
        action="activation_code.used",
        object_type="citizen",
        object_id=activation_code.citizen.user_id,
        actor=actor,
        data={"activation_code_id": activation_code.pk},
    )
    return activation_code


# --- enrollment ---------------------------------------------------------------------------------


def _clean_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ValidationError({"name": ["A name is required."]})
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError({"name": ["A name is required."]})
    if len(cleaned) > 200:
        raise ValidationError({"name": ["At most 200 characters."]})
    if any(unicodedata.category(char).startswith("C") for char in cleaned):
        raise ValidationError({"name": ["Control characters are not allowed."]})
    return cleaned


def _new_user_id() -> str:
    """10 random digits, not starting with 0 (so spreadsheets keep them intact)."""
    return str(10**9 + secrets.randbelow(9 * 10**9))


@transaction.atomic
def citizen_enroll(*, cpr: Any, name: Any, actor: str) -> tuple[Citizen, str, datetime.datetime]:
    """Enroll an eligible citizen; returns (citizen, clear activation code, its expiry)."""
    if not isinstance(cpr, str) or len(cpr) > 32 or not cpr.isascii():
        # ASCII only: other Unicode digits would parse, and hash differently from the same number.
        raise InvalidCprError()
    try:
        parsed = cpr_parser.parse_cpr(cpr)
    except cpr_parser.CprError as exc:
        raise InvalidCprError(str(exc)) from exc
    clean_name = _clean_name(name)
    if cpr_parser.age_on(parsed.birth_date, today_for_eligibility()) < app_settings.MINIMUM_AGE:
        raise UnderageError()
    cpr_hash = keyed_hash(CPR_PURPOSE, parsed.digits)
    if Citizen.objects.filter(cpr_hash=cpr_hash).exists():
        raise AlreadyEnrolledError()
    citizen: Citizen | None = None
    for _ in range(_USER_ID_ATTEMPTS):
        user_id = _new_user_id()
        if Citizen.objects.filter(user_id=user_id).exists():
            continue
        try:
            with transaction.atomic():
                citizen = Citizen.objects.create(
                    user_id=user_id,
                    name=clean_name,
                    cpr_hash=cpr_hash,
                    cpr_masked=parsed.masked,
                    birth_date=parsed.birth_date,
                )
        except IntegrityError as exc:
            # A concurrent enrollment of the same CPR number, or (rarely) the same user ID.
            if Citizen.objects.filter(cpr_hash=cpr_hash).exists():
                raise AlreadyEnrolledError() from exc
            continue
        break
    if citizen is None:  # pragma: no cover - 20 collisions in 9e9 values
        raise RuntimeError("could not allocate a unique user ID")
    audit_append(
        action="citizen.enrolled",
        object_type="citizen",
        object_id=citizen.user_id,
        actor=actor,
        data={"cpr_masked": citizen.cpr_masked},
    )
    code, row = activation_code_issue(citizen=citizen, actor=actor)
    return citizen, code, row.expires_at
