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
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_append
from citizens import cpr as cpr_parser
from citizens import passwords, throttle
from citizens.app_settings import app_settings
from citizens.locks import citizen_is_locked, citizen_record_failed_attempt
from citizens.models import ActivationCode, ActivationCodeRequest, Citizen
from nemid_app_backend.exceptions import (
    ActivationCodeApproverRequiredError,
    ActivationCodeRequestExpiredError,
    ActivationCodeRequestNotPendingError,
    ActivationCodeRequestPendingError,
    AlreadyEnrolledError,
    ApplicationError,
    ForbiddenError,
    InvalidActivationCodeError,
    InvalidCprError,
    InvalidCredentialsError,
    InvalidCurrentPasswordError,
    NotFoundError,
    OwnActivationCodeRequestError,
    UnderageError,
    ValidationError,
    WeakPasswordError,
)
from nemid_app_backend.parsers import row_id
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
def activation_code_issue(
    *, citizen: Citizen, actor: str, audit_data: Mapping[str, Any] | None = None
) -> tuple[str, ActivationCode]:
    """Issue a new code for the citizen; returns (clear code, to show once, and its row).

    A new code supersedes the citizen's unused ones, so at most one code is ever usable. The one
    rule for making a code: the admin reaches it only through activation_code_request_approve
    (four eyes), the operator commands directly (shell access); `audit_data` says which path."""
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
        data={**(audit_data or {}), "activation_code_id": row.pk, "expires_at": row.expires_at.isoformat()},
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
def citizen_enroll(
    *, cpr: Any, name: Any, actor: str, audit_data: Mapping[str, Any] | None = None
) -> tuple[Citizen, str, datetime.datetime]:
    """Enroll an eligible citizen and issue the first code at once; returns (citizen, clear
    activation code, its expiry). For the operator commands (shell access); the admin enrolls
    with citizen_enroll_requesting_code, whose code waits for a second operator."""
    citizen = _citizen_create(cpr=cpr, name=name, actor=actor)
    code, row = activation_code_issue(citizen=citizen, actor=actor, audit_data=audit_data)
    return citizen, code, row.expires_at


@transaction.atomic
def citizen_enroll_requesting_code(
    *, cpr: Any, name: Any, reason: Any, operator: User, actor: str
) -> tuple[Citizen, ActivationCodeRequest]:
    """Enroll an eligible citizen from the admin: the citizen exists at once, the first activation
    code only once another operator approves the request made here (activation_code_request_approve)."""
    clean_reason = _clean_reason(reason)  # before the citizen is made, so a bad reason leaves nothing
    citizen = _citizen_create(cpr=cpr, name=name, actor=actor)
    return citizen, activation_code_request_create(citizen=citizen, reason=clean_reason, operator=operator, actor=actor)


def _citizen_create(*, cpr: Any, name: Any, actor: str) -> Citizen:
    """Check eligibility and create the citizen, without any activation code (in the caller's transaction)."""
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
    return citizen


# --- four eyes: activation codes requested in the admin ----------------------------------------
#
# An operator requests; another operator who holds APPROVE_PERMISSION approves (the code is made
# then, by activation_code_issue, and shown to the approver once) or rejects. Only these services
# change ActivationCodeRequest.status, each along its TRANSITIONS under select_for_update.
#
# Lock order: creation locks the Citizen row, then the citizen's pending requests, then the audit
# chain head; a decision locks the request row, then (issuing) the citizen's codes, then the audit
# chain head. Neither takes a lock the other holds before one it takes later.

APPROVE_PERMISSION = "citizens.approve_activation_code"
# The operator commands issue codes without a second operator: whoever runs them has shell access
# to the server, a control outside the admin. Their audit entries say so (docs/operations.md).
OUT_OF_BAND: Mapping[str, Any] = {"via": "operator_command"}
REQUEST_EXPIRY_ACTOR = "system:lazy-expiry"
_REASON_MAX_LENGTH = 500


def _clean_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": ["A reason is required."]})
    cleaned = reason.strip()
    if len(cleaned) > _REASON_MAX_LENGTH:
        raise ValidationError({"reason": [f"At most {_REASON_MAX_LENGTH} characters."]})
    if any(unicodedata.category(char).startswith("C") and char not in "\r\n\t" for char in cleaned):
        raise ValidationError({"reason": ["Control characters are not allowed."]})
    return cleaned


def _request_audit_data(code_request: ActivationCodeRequest) -> dict[str, Any]:
    return {
        "request_id": code_request.pk,
        "requested_by": code_request.requested_by.get_username(),
        "decided_by": code_request.decided_by.get_username() if code_request.decided_by else None,
    }


def _activation_code_request_transition(
    code_request: ActivationCodeRequest, target: str, *, actor: str, operator: User | None, now: datetime.datetime
) -> None:
    if not ActivationCodeRequest.can_transition(code_request.status, target):
        raise ActivationCodeRequestNotPendingError(request_status=code_request.status)
    code_request.status = target
    code_request.decided_by = operator
    code_request.decided_at = now
    code_request.save(update_fields=["status", "decided_by", "decided_at", "activation_code"])
    audit_append(
        action=f"activation_code.request_{target}",
        object_type="citizen",
        object_id=code_request.citizen.user_id,
        actor=actor,
        data=_request_audit_data(code_request),
    )


def activation_code_request_refusal(
    code_request: ActivationCodeRequest, *, operator: User, now: datetime.datetime | None = None
) -> ApplicationError | None:
    """Why this operator may not approve or reject this request now, or None if they may.

    The one home of the four-eyes rule, for the services and for the admin's buttons alike: the
    approve permission (superusers hold every permission), never one's own request (superusers
    neither), only a pending request before its expiry."""
    if not operator.has_perm(APPROVE_PERMISSION):
        return ActivationCodeApproverRequiredError()
    if code_request.requested_by_id == operator.pk:
        return OwnActivationCodeRequestError()
    if code_request.status != ActivationCodeRequest.Status.PENDING:
        return ActivationCodeRequestNotPendingError(request_status=code_request.status)
    if code_request.is_past_expiry(now):
        return ActivationCodeRequestExpiredError()
    return None


def _activation_code_request_lock(request_id: Any) -> ActivationCodeRequest:
    number = row_id(request_id)
    code_request = (
        ActivationCodeRequest.objects.select_for_update(of=("self",))
        .select_related("citizen", "requested_by", "decided_by")
        .filter(pk=number)
        .first()
        if number is not None
        else None
    )
    if code_request is None:
        raise NotFoundError("No such activation code request.")
    return code_request


@transaction.atomic
def activation_code_request_create(*, citizen: Citizen, reason: Any, operator: User, actor: str) -> ActivationCodeRequest:
    """Request an activation code for the citizen; no code exists until another operator approves.

    One pending request per citizen: 409 activation_code_request_pending while one waits (an
    expired one is recorded as expired and no longer counts)."""
    clean_reason = _clean_reason(reason)
    locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
    now = timezone.now()
    waiting = ActivationCodeRequest.objects.select_for_update(of=("self",)).select_related("requested_by", "decided_by")
    for pending in waiting.filter(citizen=locked, status=ActivationCodeRequest.Status.PENDING):
        pending.citizen = locked
        if not pending.is_past_expiry(now):
            raise ActivationCodeRequestPendingError(request_id=pending.pk)
        _activation_code_request_transition(
            pending, ActivationCodeRequest.Status.EXPIRED, actor=REQUEST_EXPIRY_ACTOR, operator=None, now=now
        )
    code_request = ActivationCodeRequest.objects.create(
        citizen=locked,
        requested_by=operator,
        reason=clean_reason,
        expires_at=now + app_settings.ACTIVATION_CODE_REQUEST_TTL,
    )
    audit_append(
        action="activation_code.requested",
        object_type="citizen",
        object_id=locked.user_id,
        actor=actor,
        data={
            "request_id": code_request.pk,
            "requested_by": operator.get_username(),
            "reason": clean_reason,
            "expires_at": code_request.expires_at.isoformat(),
        },
    )
    return code_request


def activation_code_request_approve(
    *, request_id: Any, operator: User, actor: str
) -> tuple[ActivationCodeRequest, str, ActivationCode]:
    """A second operator approves: the code is issued (activation_code_issue) in the transaction
    that marks the request approved, under the request's row lock, so two approvers at once make
    one code. Returns (request, clear code to show this operator once, its row).

    Refused, with nothing changed: 403 activation_code_approver_required without the permission,
    403 own_activation_code_request for one's own request, 409 activation_code_request_not_pending
    once decided, 410 activation_code_request_expired past its expiry (the expiry is recorded)."""
    code_request, code, row = _activation_code_request_decide(request_id=request_id, operator=operator, actor=actor, approve=True)
    assert code is not None and row is not None  # approved, or the refusal was raised
    return code_request, code, row


def activation_code_request_reject(*, request_id: Any, operator: User, actor: str) -> ActivationCodeRequest:
    """A second operator rejects the request; no code is made. Refused as activation_code_request_approve is."""
    return _activation_code_request_decide(request_id=request_id, operator=operator, actor=actor, approve=False)[0]


def _activation_code_request_decide(
    *, request_id: Any, operator: User, actor: str, approve: bool
) -> tuple[ActivationCodeRequest, str | None, ActivationCode | None]:
    error: ApplicationError | None = None
    code: str | None = None
    row: ActivationCode | None = None
    with transaction.atomic():
        code_request = _activation_code_request_lock(request_id)
        now = timezone.now()
        error = activation_code_request_refusal(code_request, operator=operator, now=now)
        if isinstance(error, ActivationCodeRequestExpiredError):
            # Committed before the refusal is reported, so the list stops offering it.
            _activation_code_request_transition(
                code_request, ActivationCodeRequest.Status.EXPIRED, actor=REQUEST_EXPIRY_ACTOR, operator=None, now=now
            )
        elif error is None and approve:
            code, row = activation_code_issue(
                citizen=code_request.citizen,
                actor=actor,
                audit_data={
                    "via": "four_eyes",
                    "request_id": code_request.pk,
                    "requested_by": code_request.requested_by.get_username(),
                    "approved_by": operator.get_username(),
                },
            )
            code_request.activation_code = row
            _activation_code_request_transition(
                code_request, ActivationCodeRequest.Status.APPROVED, actor=actor, operator=operator, now=now
            )
        elif error is None:
            _activation_code_request_transition(
                code_request, ActivationCodeRequest.Status.REJECTED, actor=actor, operator=operator, now=now
            )
    if error is not None:
        raise error
    return code_request, code, row


def activation_code_request_cancel(*, request_id: Any, operator: User, actor: str) -> ActivationCodeRequest:
    """The operator who made a pending request withdraws it (403 forbidden for anyone else)."""
    error: ApplicationError | None = None
    with transaction.atomic():
        code_request = _activation_code_request_lock(request_id)
        now = timezone.now()
        if code_request.requested_by_id != operator.pk:
            raise ForbiddenError("Only the operator who requested the code can cancel the request; others reject it.")
        if code_request.status != ActivationCodeRequest.Status.PENDING:
            raise ActivationCodeRequestNotPendingError(request_status=code_request.status)
        if code_request.is_past_expiry(now):
            error = ActivationCodeRequestExpiredError()
            _activation_code_request_transition(
                code_request, ActivationCodeRequest.Status.EXPIRED, actor=REQUEST_EXPIRY_ACTOR, operator=None, now=now
            )
        else:
            _activation_code_request_transition(
                code_request, ActivationCodeRequest.Status.CANCELLED, actor=actor, operator=operator, now=now
            )
    if error is not None:
        raise error
    return code_request


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
