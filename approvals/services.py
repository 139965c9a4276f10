"""Writes of approval requests: create, cancel, decide, expire (docs/contract §5-§7).

Only these services change `ApprovalRequest.status`, and every change goes through
`_approval_transition`, which enforces `ApprovalRequest.TRANSITIONS`, writes the audit entry and
calls the event hook, all in the caller's transaction. Each state change re-reads its row with
select_for_update and re-checks status and expiry under that lock; the device's signature is
verified inside the same locked block, so "verified" and "decided" commit together.

Lock order (to stay free of deadlocks): an ApprovalRequest row, then its Citizen row, then the
audit chain head (audit_append). Creation locks the Citizen row (it serialises the pending-limit
check per citizen), inserts, then appends to the audit log.

Some failures must be committed before they are reported (a payload mismatch fails the request
and counts a failed attempt; a decision after expires_at records the expiry). Those services run
their atomic block, remember the error, and raise it after the block has committed.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from approvals import events
from approvals.app_settings import app_settings
from approvals.limits import PromptRefusal, prompt_limits_check, prompt_refusal_record
from approvals.models import ApprovalRequest, IdempotencyRecord
from approvals.money import MoneyInvalid, validate_money
from approvals.selectors import approval_lock, approval_lock_with_citizen, approval_pending_expiries
from approvals.tokens import result_token_sign
from audit.services import audit_append
from citizens.locks import (
    citizen_is_locked,
    citizen_login_blocked,
    citizen_record_failed_attempt,
    citizen_record_success,
    citizen_report_fraud,
    seconds_until,
)
from citizens.models import Citizen
from citizens.selectors import citizen_lock_by_user_id
from devices import crypto
from devices.models import Device
from devices.selectors import device_is_active, device_push_channels_of_citizen
from nemid_app_backend import db
from nemid_app_backend.exceptions import (
    ApplicationError,
    ApprovalExpiredError,
    ApprovalNotPendingError,
    IdempotencyKeyReusedError,
    InvalidBindingMessageError,
    InvalidDeviceTokenError,
    InvalidSignatureError,
    NoActiveDeviceError,
    NotFoundError,
    PayloadMismatchError,
    StaleDecisionError,
    TooManyPendingError,
    TypeNotAllowedError,
    UnknownUserError,
    UserLockedError,
    ValidationError,
    VerificationCodeMismatchError,
)
from relying_parties.models import RelyingParty

Status = ApprovalRequest.Status
DECISION_TYP = "approval-decision+jwt"
NONCE_BYTES = 32
BINDING_MESSAGE_MAX = 100
PAYEE_MAX = 70
_USER_ID_RE = re.compile(r"[0-9]{10}")
_MISSING = object()

_AUDIT_ACTIONS: dict[str, str] = {
    Status.APPROVED: "approval.decided",
    Status.DENIED: "approval.decided",
    Status.EXPIRED: "approval.expired",
    Status.CANCELLED: "approval.cancelled",
    Status.FAILED: "approval.failed",
}


# --- the one transition function -------------------------------------------------------------


def _approval_transition(
    approval: ApprovalRequest,
    target: str,
    *,
    actor: str,
    reason: str = "",
    update_fields: tuple[str, ...] = (),
    audit_data: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Move a request the caller has locked (select_for_update, in an atomic block) to `target`.

    A decided request (approved/denied) gets its result token here, before the event hook runs,
    so that every representation of the final state carries it."""
    if not connection.in_atomic_block:
        raise RuntimeError("_approval_transition must run inside the transaction that locked the row")
    source = approval.status
    if not ApprovalRequest.can_transition(source, target):
        raise ApprovalNotPendingError(approval_status=source)
    approval.status = target
    approval.status_reason = reason
    fields = ["status", "status_reason", *update_fields]
    if target in (Status.APPROVED, Status.DENIED):
        approval.result_token = result_token_sign(approval)
        fields.append("result_token")
    db.update_fields(approval, fields)
    audit_append(
        action=_AUDIT_ACTIONS.get(target, f"approval.{target}"),
        object_type="approval_request",
        object_id=approval.id,
        actor=actor,
        data={"from": source, "to": target, "reason": reason, **(audit_data or {})},
    )
    if target in ApprovalRequest.FINAL_STATUSES:
        events.approval_request_finalized(approval)
    return approval


# --- creation (RP side) ----------------------------------------------------------------------


def _check_content(*, binding_message: str, payment: dict[str, str] | None) -> None:
    """What the citizen is shown and signs, re-checked here for internal callers (the API's
    serializer has already given field-level errors for HTTP input)."""
    if not isinstance(binding_message, str) or len(binding_message) > BINDING_MESSAGE_MAX or not binding_message.isprintable():
        raise InvalidBindingMessageError()
    if payment is None:
        return
    payee = payment.get("payee") if isinstance(payment, dict) else None
    if not isinstance(payee, str) or not payee or len(payee) > PAYEE_MAX or not payee.isprintable():
        raise ValidationError({"payment.payee": [f"1 to {PAYEE_MAX} printable characters."]})
    if set(payment) != {"amount", "currency", "payee"}:
        raise ValidationError({"payment": ["Exactly amount, currency and payee."]})
    try:
        validate_money(payment["amount"], payment["currency"])
    except MoneyInvalid as exc:
        raise ValidationError({"payment": [str(exc)]}) from exc


@dataclass(frozen=True)
class ApprovalCreateResult:
    approval: ApprovalRequest
    replayed: bool  # True when an Idempotency-Key returned an earlier request


def _idempotent_replay(*, relying_party: RelyingParty, key: str, fingerprint: str) -> ApprovalRequest | None:
    cutoff = timezone.now() - datetime.timedelta(seconds=app_settings.IDEMPOTENCY_TTL)
    IdempotencyRecord.objects.filter(relying_party=relying_party, key=key, created_at__lte=cutoff).delete()
    record = IdempotencyRecord.objects.filter(relying_party=relying_party, key=key).select_related("approval").first()
    if record is None:
        return None
    if not hmac.compare_digest(record.body_hash, fingerprint):
        raise IdempotencyKeyReusedError()
    return approval_request_expire_if_overdue(approval=record.approval)


def approval_request_create(
    *,
    relying_party: RelyingParty,
    type: str,
    login_hint: str,
    binding_message: str = "",
    payment: dict[str, str] | None = None,
    expires_in: int | None = None,
    number_matching: bool | None = None,
    callback_url: str = "",
    idempotency_key: str | None = None,
    fingerprint: str = "",
    check_type_allowed: bool = True,
    origin: str = ApprovalRequest.ORIGIN_OTHER,
) -> ApprovalCreateResult:
    """Create a pending request for the citizen `login_hint` (input already validated by the caller).

    With an `idempotency_key`, the same key and `fingerprint` (hash of the request body) within
    IDEMPOTENCY_TTL return the first request again; a concurrent duplicate loses on the unique
    constraint and is answered the same way. `check_type_allowed=False` is for internal callers
    (3-D Secure) that create a payment on behalf of an RP allowed `3ds`. `origin` is recorded on the
    request for the app that made it (`ApprovalRequest.origin`; "other" unless the app needs to tell its own apart)."""
    if type not in ApprovalRequest.Type.values:
        raise ValidationError({"type": [f"Must be one of {', '.join(ApprovalRequest.Type.values)}."]})
    if (type == ApprovalRequest.Type.PAYMENT) != (payment is not None):
        raise ValidationError({"payment": ["Required for payment requests, forbidden for login requests."]})
    _check_content(binding_message=binding_message, payment=payment)
    if check_type_allowed and not relying_party.allows(type):
        raise TypeNotAllowedError(f"This relying party is not allowed {type} requests.")
    if idempotency_key is not None:
        replayed = _idempotent_replay(relying_party=relying_party, key=idempotency_key, fingerprint=fingerprint)
        if replayed is not None:
            return ApprovalCreateResult(replayed, True)
    try:
        created = _approval_request_insert(
            relying_party=relying_party,
            type=type,
            login_hint=login_hint,
            binding_message=binding_message,
            payment=payment,
            expires_in=expires_in if expires_in is not None else app_settings.DEFAULT_EXPIRES_IN[type],
            number_matching=number_matching if number_matching is not None else type == ApprovalRequest.Type.LOGIN,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            origin=origin,
        )
    except IntegrityError:
        if idempotency_key is None:
            raise
        replayed = _idempotent_replay(relying_party=relying_party, key=idempotency_key, fingerprint=fingerprint)
        if replayed is None:
            raise
        return ApprovalCreateResult(replayed, True)
    if isinstance(created, PromptRefusal):  # its audit entry is committed; nothing else was written
        raise created.error()
    return ApprovalCreateResult(created, False)


@transaction.atomic
def _approval_request_insert(
    *,
    relying_party: RelyingParty,
    type: str,
    login_hint: str,
    binding_message: str,
    payment: dict[str, str] | None,
    expires_in: int,
    number_matching: bool,
    callback_url: str,
    idempotency_key: str | None,
    fingerprint: str,
    origin: str,
) -> ApprovalRequest | PromptRefusal:
    """The new request, or the prompt limit that refuses it (audited in this transaction, so that
    the refusal is recorded although the caller then raises).

    The Citizen row lock serialises creations per citizen, so the pending limit and the prompt
    limits hold under concurrency."""
    citizen = None
    if isinstance(login_hint, str) and _USER_ID_RE.fullmatch(login_hint):
        citizen = citizen_lock_by_user_id(user_id=login_hint)
    if citizen is None:
        raise UnknownUserError()
    # One read answers both "has an active device" and (in the hook) "which of them get a push".
    active_devices = device_push_channels_of_citizen(citizen_id=citizen.pk)
    if not active_devices:
        raise NoActiveDeviceError()
    now = timezone.now()
    if citizen_is_locked(citizen, now=now):
        raise UserLockedError(headers={"Retry-After": str(seconds_until(citizen.locked_until, now=now))})
    if type == ApprovalRequest.Type.LOGIN and citizen_login_blocked(citizen, now=now):
        raise UserLockedError(
            "Login requests are blocked after a fraud report.",
            headers={"Retry-After": str(seconds_until(citizen.login_blocked_until, now=now))},
        )
    pending = approval_pending_expiries(citizen_id=citizen.pk, now=now)
    if len(pending) >= app_settings.MAX_PENDING_PER_CITIZEN:
        raise TooManyPendingError(headers={"Retry-After": str(seconds_until(min(pending), now=now))})
    refusal = prompt_limits_check(citizen_id=citizen.pk, relying_party=relying_party, now=now)
    if refusal is not None:
        prompt_refusal_record(refusal, user_id=citizen.user_id, relying_party=relying_party, request_type=type)
        return refusal
    approval = ApprovalRequest(
        relying_party=relying_party,
        citizen=citizen,
        type=type,
        binding_message=binding_message,
        payment_amount=payment["amount"] if payment else "",
        payment_currency=payment["currency"] if payment else "",
        payment_payee=payment["payee"] if payment else "",
        number_matching=number_matching,
        verification_code=f"{secrets.randbelow(100):02d}" if number_matching else "",
        nonce=crypto.b64url_encode(secrets.token_bytes(NONCE_BYTES)),
        callback_url=callback_url,
        origin=origin,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=expires_in),
    )
    db.insert(approval)
    if idempotency_key is not None:
        IdempotencyRecord.objects.create(
            relying_party=relying_party, key=idempotency_key, body_hash=fingerprint, approval=approval, created_at=now
        )
    audit_append(
        action="approval.created",
        object_type="approval_request",
        object_id=approval.id,
        actor=f"rp:{relying_party.client_id}",
        data={
            "type": type,
            "user_id": citizen.user_id,
            "number_matching": number_matching,
            "expires_at": approval.expires_at.isoformat(),
        },
    )
    events.approval_request_created(approval, active_devices=active_devices)
    return approval


# --- cancel and expiry -----------------------------------------------------------------------


def approval_request_cancel(*, relying_party: RelyingParty, approval_id: object) -> ApprovalRequest:
    """Cancel a pending request of this RP; 404 for another RP's, 409 when no longer pending."""
    error: ApplicationError | None = None
    with transaction.atomic():
        approval = approval_lock(approval_id=approval_id, relying_party=relying_party)
        if approval is None:
            raise NotFoundError()
        now = timezone.now()
        if approval.is_overdue(now):
            _approval_transition(approval, Status.EXPIRED, actor="system:lazy-expiry", reason="expires_at passed")
        if approval.status != Status.PENDING:
            error = ApprovalNotPendingError(approval_status=approval.status)
        else:
            _approval_transition(
                approval, Status.CANCELLED, actor=f"rp:{relying_party.client_id}", reason="cancelled by relying party"
            )
    if error is not None:
        raise error
    return approval


@transaction.atomic
def approval_request_expire(*, approval_id: object, actor: str = "system:lazy-expiry") -> ApprovalRequest | None:
    """Record the expiry of a pending request past expires_at; idempotent, None if no such request."""
    approval = approval_lock(approval_id=approval_id)
    if approval is not None and approval.is_overdue():
        _approval_transition(approval, Status.EXPIRED, actor=actor, reason="expires_at passed")
    return approval


def approval_request_expire_if_overdue(*, approval: ApprovalRequest) -> ApprovalRequest:
    """Lazy expiry on read: a pending request past expires_at is recorded as expired first."""
    if approval.is_overdue():
        return approval_request_expire(approval_id=approval.id) or approval
    return approval


def approvals_expire_overdue(
    *, citizen_id: int | None = None, batch_size: int | None = None, actor: str = "system:expiry-task"
) -> int:
    """Close every pending request past expires_at, in batches of one transaction each.

    Idempotent: rows are re-read under lock (rows locked by a concurrent decision are skipped
    and left to it). Returns how many requests were expired."""
    size = batch_size or app_settings.EXPIRY_BATCH_SIZE
    total = 0
    while True:
        with transaction.atomic():
            overdue = ApprovalRequest.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status=Status.PENDING, expires_at__lte=timezone.now()
            )
            if citizen_id is not None:
                overdue = overdue.filter(citizen_id=citizen_id)
            batch = list(overdue.select_related("relying_party", "citizen").order_by("expires_at")[:size])
            for approval in batch:
                _approval_transition(approval, Status.EXPIRED, actor=actor, reason="expires_at passed")
        total += len(batch)
        if len(batch) < size:
            return total


def idempotency_records_purge() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL."""
    cutoff = timezone.now() - datetime.timedelta(seconds=app_settings.IDEMPOTENCY_TTL)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted


# --- decisions (device side) -----------------------------------------------------------------


def _json_equal(signed: Any, expected: Any) -> bool:
    """Exact equality of JSON values: same types (no 1 == True, no "1" == 1), same key sets."""
    if isinstance(expected, dict):
        return (
            isinstance(signed, dict)
            and signed.keys() == expected.keys()
            and all(_json_equal(signed[key], value) for key, value in expected.items())
        )
    if expected is None:
        return signed is None
    return type(signed) is type(expected) and signed == expected


def _verified_decision(device: Device, signed_decision: str) -> dict[str, Any] | None:
    """The decision's claims if its kid is this device and its signature verifies, else None."""
    try:
        header = crypto.unverified_header(signed_decision)
        if header.get("kid") != str(device.id):
            return None
        _, claims = crypto.verify_jws(signed_decision, crypto.load_public_jwk(device.public_jwk), typ=DECISION_TYP)
    except (crypto.JwsInvalid, crypto.KeyInvalid):
        return None
    return claims


def _payload_mismatches(approval: ApprovalRequest, claims: dict[str, Any]) -> list[str]:
    expected = {
        "approval_id": str(approval.id),
        "nonce": approval.nonce,
        "type": approval.type,
        "rp_name": approval.relying_party.name,
        "binding_message": approval.binding_message,
        "payment": approval.payment,
    }
    return [field for field, value in expected.items() if not _json_equal(claims.get(field, _MISSING), value)]


def _is_fresh(iat: Any) -> bool:
    if not isinstance(iat, int) or isinstance(iat, bool):
        return False
    return abs(time.time() - iat) <= app_settings.DECISION_MAX_AGE


def approval_request_decide(*, device: Device, approval_id: object, signed_decision: str) -> ApprovalRequest:
    """Apply a device's signed decision, with docs/contract §6 checks 1-6 in order (check 0, the device
    token, is the caller's). The first valid decision wins; replays and late ones get 409/410.

    A citizen who is locked (§7) gets 423 before any check, and nothing is counted."""
    actor = f"device:{device.id}"
    error: ApplicationError | None = None
    with transaction.atomic():
        # Lock the request and its Citizen row (one statement, request first), before anything
        # appends to the audit log (which locks the chain head): creation takes citizen -> audit
        # head, so taking them in that order here too keeps the two free of deadlocks. It also
        # orders failure counting per citizen.
        approval = approval_lock_with_citizen(approval_id=approval_id, citizen_id=device.citizen_id)
        # A device's citizen is never deleted (PROTECT).
        citizen = approval.citizen if approval is not None else Citizen.objects.select_for_update().get(pk=device.citizen_id)
        now = timezone.now()
        if not device_is_active(device_id=device.pk):
            raise InvalidDeviceTokenError("The device is revoked.")
        if citizen_is_locked(citizen, now=now):
            raise UserLockedError(headers={"Retry-After": str(seconds_until(citizen.locked_until, now=now))})
        claims = _verified_decision(device, signed_decision)  # check 1
        if claims is None:
            citizen_record_failed_attempt(
                citizen_id=citizen.pk, reason="invalid_signature", actor=actor, approval_id=str(approval.id) if approval else None
            )
            error = InvalidSignatureError()
        elif approval is None:  # check 2
            raise NotFoundError()
        elif approval.is_past_expiry(now):  # check 3
            if approval.status == Status.PENDING:
                _approval_transition(approval, Status.EXPIRED, actor="system:lazy-expiry", reason="expires_at passed")
            error = ApprovalExpiredError(approval_status=approval.status)
        elif approval.status != Status.PENDING:
            error = ApprovalNotPendingError(approval_status=approval.status)
        elif claims.get("decision") not in ("approve", "deny"):
            raise ValidationError({"signed_decision.decision": ["Must be approve or deny."]})
        else:
            error = _apply_decision(
                approval, device=device, citizen=citizen, claims=claims, signed_decision=signed_decision, now=now
            )
    if error is not None:
        raise error
    assert approval is not None
    return approval


def _fail(approval: ApprovalRequest, *, reason: str, actor: str, audit_data: dict[str, Any] | None = None) -> None:
    _approval_transition(approval, Status.FAILED, actor=actor, reason=reason, audit_data=audit_data)
    citizen_record_failed_attempt(citizen_id=approval.citizen_id, reason=reason, actor=actor, approval_id=str(approval.id))


def _apply_decision(
    approval: ApprovalRequest,
    *,
    device: Device,
    citizen: Citizen,
    claims: dict[str, Any],
    signed_decision: str,
    now: datetime.datetime,
) -> ApplicationError | None:
    """Checks 4-6 and the decision itself, under the row locks (request, citizen) the caller holds."""
    actor = f"device:{device.id}"
    decision = claims["decision"]
    mismatched = _payload_mismatches(approval, claims)
    if mismatched:  # check 4
        _fail(approval, reason="payload_mismatch", actor=actor, audit_data={"fields": mismatched})
        return PayloadMismatchError(approval_status=approval.status)
    if approval.number_matching and decision == "approve":  # check 5
        code = claims.get("verification_code")
        if not isinstance(code, str) or not hmac.compare_digest(code.encode(), approval.verification_code.encode()):
            _fail(approval, reason="verification_code_mismatch", actor=actor)
            return VerificationCodeMismatchError(approval_status=approval.status)
    if not _is_fresh(claims.get("iat")):  # check 6
        return StaleDecisionError()
    report_fraud = decision == "deny" and claims.get("report_fraud") is True
    approval.decided_at = now
    approval.decided_by_device = device
    approval.device_signature = signed_decision
    approval.fraud_reported = report_fraud
    _approval_transition(
        approval,
        Status.APPROVED if decision == "approve" else Status.DENIED,
        actor=actor,
        reason=f"{decision} by device",
        update_fields=("decided_at", "decided_by_device", "device_signature", "fraud_reported"),
        audit_data={"device_id": str(device.id), "fraud_reported": report_fraud},
    )
    if citizen.failed_attempts:  # read under the citizen's row lock: nothing to reset when zero
        citizen_record_success(citizen_id=approval.citizen_id)
    if report_fraud:
        citizen_report_fraud(citizen_id=approval.citizen_id, approval_id=str(approval.id), actor=actor)
    return None
