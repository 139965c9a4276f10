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

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_append
from citizens import cpr as cpr_parser
from citizens import passwords, throttle
from citizens.app_settings import app_settings
from citizens.locks import citizen_is_locked, citizen_record_failed_attempt
from citizens.models import ActivationCode, Citizen
from nemid_app_backend.exceptions import (
    AlreadyEnrolledError,
    InvalidActivationCodeError,
    InvalidCprError,
    InvalidCredentialsError,
    InvalidCurrentPasswordError,
    UnderageError,
    ValidationError,
    WeakPasswordError,
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


# --- the password (CONTRACT §9) ------------------------------------------------------------------
#
# Hashed by Django's first PASSWORD_HASHERS entry (Argon2id in production), checked with Django's
# check_password (which re-hashes on success when the parameters changed). Never set by an
# operator: the only writer is citizen_password_set, called by the citizen's own device.


def password_schedule() -> throttle.Schedule:
    return throttle.Schedule(
        free=app_settings.PASSWORD_FREE_FAILURES, base=app_settings.PASSWORD_DELAY, cap=app_settings.PASSWORD_MAX_DELAY
    )


def password_context(citizen: Citizen) -> passwords.PasswordContext:
    return passwords.PasswordContext(user_id=citizen.user_id, name=citizen.name, birth_date=citizen.birth_date)


def password_validate(*, citizen: Citizen, password: Any) -> str:
    """The normalised password if the rules accept it for this citizen; else 400 weak_password
    (or validation_error for a value that is not text)."""
    try:
        return passwords.check(password, password_context(citizen))
    except passwords.PasswordNotUsable as exc:
        if exc.reason == "invalid":
            raise ValidationError({"password": [exc.message]}) from exc
        raise WeakPasswordError(exc.message, reason=exc.reason) from exc


_dummy_hashes: dict[str, str] = {}


def password_check_dummy(*, password: Any) -> None:
    """Spend what one password check costs, and learn nothing: for a user ID that has no citizen
    or no password, so that its answer takes as long as a real one."""
    hasher_key = repr(settings.PASSWORD_HASHERS)
    encoded = _dummy_hashes.get(hasher_key)
    if encoded is None:
        encoded = _dummy_hashes[hasher_key] = make_password(secrets.token_urlsafe(16))
    candidate = password if isinstance(password, str) else ""
    try:
        check_password(candidate, encoded)
    except UnicodeEncodeError:
        check_password("", encoded)


def _password_candidate(password: Any) -> str | None:
    """The normalised form of a typed password, or None when it cannot be any stored password."""
    try:
        return passwords.normalize(password)
    except passwords.PasswordNotUsable:
        return None


def citizen_password_verify(*, citizen: Citizen, password: Any, actor: str = "", settle: bool = True) -> None:
    """Check the citizen's password. Returns quietly when it is right; raises 400
    invalid_credentials when it is wrong (or none is set), 429 too_many_attempts (with Retry-After)
    while the password is throttled or the citizen is locked (§7): such an attempt is not checked.

    A wrong password counts one failed attempt toward the §7 lock and toward the password's own
    delay. A right one resets the password's delay, not the §7 count: call
    citizens.locks.citizen_record_success when the whole authentication has succeeded.
    With `settle=False` a right password leaves the attempt counted against the password until
    citizen_password_settle is called: for a caller that checks another factor in the same attempt
    and must not let the password's delay tell which part was wrong.

    Not atomic on purpose: the attempt is counted in a committed transaction before the hash is
    checked, so that parallel guesses are all counted and the count survives the error. Do not call
    it inside a transaction that the error would roll back."""
    actor = actor or f"citizen:{citizen.user_id}"
    now = timezone.now()
    with transaction.atomic():
        locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
        if citizen_is_locked(locked, now=now):
            assert locked.locked_until is not None
            raise throttle.too_many_attempts(locked.locked_until, now, "The citizen is locked after too many failed attempts.")
        if throttle.is_blocked(locked.password_blocked_until, now):
            assert locked.password_blocked_until is not None
            raise throttle.too_many_attempts(locked.password_blocked_until, now, "Too many wrong passwords; try again later.")
        encoded = locked.password_hash
        # Counted before it is checked; a right password takes the count back (citizen_password_settle).
        locked.password_failures += 1
        locked.password_blocked_until = password_schedule().blocked_until(locked.password_failures, now)
        locked.save(update_fields=["password_failures", "password_blocked_until"])
    candidate = _password_candidate(password)
    rehashed: list[str] = []
    if encoded and candidate is not None:
        right = check_password(candidate, encoded, setter=rehashed.append)
    else:
        password_check_dummy(password=candidate or "")
        right = False
    if right:
        if rehashed:  # the hasher's parameters changed since this hash was made
            Citizen.objects.filter(pk=citizen.pk, password_hash=encoded).update(password_hash=make_password(candidate))
        if settle:
            citizen_password_settle(citizen=citizen, actor=actor)
        return
    with transaction.atomic():
        failures = Citizen.objects.filter(pk=citizen.pk).values_list("password_failures", flat=True).first()
        audit_append(
            action="citizen.password_failed",
            object_type="citizen",
            object_id=citizen.user_id,
            actor=actor,
            data={"password_failures": failures, "password_set": bool(encoded)},
        )
        citizen_record_failed_attempt(citizen_id=citizen.pk, reason="wrong_password", actor=actor)
    raise InvalidCredentialsError()


def citizen_password_settle(*, citizen: Citizen, actor: str = "") -> None:
    """The password given in this attempt was right and the attempt succeeded: reset the password's
    delay and record its use (citizen_password_verify does this itself unless told `settle=False`)."""
    with transaction.atomic():
        Citizen.objects.filter(pk=citizen.pk).update(
            password_failures=0, password_blocked_until=None, password_last_used_at=timezone.now()
        )
        audit_append(
            action="citizen.password_used",
            object_type="citizen",
            object_id=citizen.user_id,
            actor=actor or f"citizen:{citizen.user_id}",
        )
    citizen.password_failures, citizen.password_blocked_until = 0, None


def citizen_password_set(*, citizen: Citizen, password: Any, current_password: Any = None, actor: str = "") -> None:
    """Set or change the citizen's password (the citizen's own device only; never an operator).

    Once one is set, `current_password` is required (400 validation_error without it, 401
    invalid_credentials when wrong, counted as a failed attempt). The new one must pass the rules
    (400 weak_password with a reason)."""
    actor = actor or f"citizen:{citizen.user_id}"
    normalized = password_validate(citizen=citizen, password=password)
    current_hash = Citizen.objects.filter(pk=citizen.pk).values_list("password_hash", flat=True).first() or ""
    if current_hash:
        if current_password is None or current_password == "":
            raise ValidationError({"current_password": ["Required: the citizen already has a password."]})
        try:
            citizen_password_verify(citizen=citizen, password=current_password, actor=actor)
        except InvalidCredentialsError as exc:
            raise InvalidCurrentPasswordError() from exc
    encoded = make_password(normalized)
    with transaction.atomic():
        locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
        if locked.password_hash != current_hash:  # changed by another request meanwhile
            raise InvalidCurrentPasswordError("The password was changed meanwhile; try again.")
        locked.password_hash = encoded
        locked.password_changed_at = timezone.now()
        locked.password_failures = 0
        locked.password_blocked_until = None
        locked.save(update_fields=["password_hash", "password_changed_at", "password_failures", "password_blocked_until"])
        audit_append(
            action="citizen.password_changed" if current_hash else "citizen.password_set",
            object_type="citizen",
            object_id=locked.user_id,
            actor=actor,
        )
    citizen.password_hash = encoded
    citizen.password_changed_at = locked.password_changed_at
