"""Cards and 3-D Secure decoupled authentications (docs/contract §3 register_card, §8).

A card number (PAN) is never stored: only its keyed hash (for look-up) and its last 4 digits.
An authentication request (AReq) for a registered card becomes a `payment` approval for the
card's citizen; the approval's id is the ACS transaction id. When the citizen approves, the
authentication value is an HMAC-SHA256 (truncated to 20 bytes, base64) under the issuer's 3-D
Secure key over the transaction, so that the issuer can later prove which transaction was
authenticated (`threeds_authentication_value_verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction

from approvals.models import ApprovalRequest
from audit.services import audit_append
from citizens.models import Citizen
from nemid_app_backend.exceptions import (
    ApplicationError,
    CardAlreadyRegisteredError,
    IdempotencyKeyReusedError,
    InvalidPanError,
    NoActiveDeviceError,
    RateLimitedError,
    TypeNotAllowedError,
    UserLockedError,
)
from nemid_app_backend.secrets import keyed_hash
from relying_parties.models import RelyingParty
from threeds.app_settings import app_settings
from threeds.emv import AReq, areq_parse, is_digits, luhn_valid
from threeds.models import Card, ThreeDSAuthentication

logger = logging.getLogger(__name__)

PAN_PURPOSE = "pan"
PAN_MIN_LENGTH = 12
PAN_MAX_LENGTH = 19
AUTHENTICATION_VALUE_LENGTH = 20

# transStatus / transStatusReason values (EMV 3DS 2.2, tables A.4 / A.17).
STATUS_AUTHENTICATED = "Y"
STATUS_NOT_AUTHENTICATED = "N"
STATUS_UNAVAILABLE = "U"
STATUS_DECOUPLED = "D"
REASON_CARD_AUTHENTICATION_FAILED = "01"
REASON_NO_CARD_RECORD = "08"
REASON_SECURITY_FAILURE = "09"
REASON_SUSPECTED_FRAUD = "11"
REASON_NOT_PERMITTED = "12"
REASON_NOT_ENROLLED = "13"


def pan_hash(pan: str) -> str:
    return keyed_hash(PAN_PURPOSE, pan)


def pan_validate(pan: Any) -> str:
    """A PAN of 12-19 ASCII digits passing the Luhn check, else 400 invalid_pan (never echoing the PAN)."""
    if not isinstance(pan, str):
        raise InvalidPanError("The card number must be a string of digits.")
    if not is_digits(pan, min_length=1, max_length=64):
        raise InvalidPanError("The card number must contain digits only.")
    if not PAN_MIN_LENGTH <= len(pan) <= PAN_MAX_LENGTH:
        raise InvalidPanError(f"The card number must have {PAN_MIN_LENGTH} to {PAN_MAX_LENGTH} digits.")
    if not luhn_valid(pan):
        raise InvalidPanError("The card number fails the Luhn check.")
    return pan


def card_register(*, citizen: Citizen, pan: Any, actor: str) -> Card:
    """Register a card to a citizen; 409 card_already_registered if the PAN is registered (to anyone)."""
    clean = pan_validate(pan)
    digest = pan_hash(clean)
    try:
        with transaction.atomic():
            if Card.objects.filter(pan_hash=digest).exists():
                raise CardAlreadyRegisteredError()
            card = Card.objects.create(citizen=citizen, pan_hash=digest, last4=clean[-4:])
            audit_append(
                action="card.registered",
                object_type="card",
                object_id=card.id,
                actor=actor,
                data={"user_id": citizen.user_id, "last4": card.last4},
            )
    except IntegrityError as exc:  # a concurrent registration of the same PAN won the race
        raise CardAlreadyRegisteredError() from exc
    return card


# --- authentications ----------------------------------------------------------------------------


def _binding_message(areq: AReq, card: Card) -> str:
    # The merchant is the payment's payee, shown beside it; the message names the card.
    return f"Card payment, card ending {card.last4}"


def _payment_approval_create(*, relying_party: RelyingParty, card: Card, areq: AReq) -> ApprovalRequest:
    from approvals.services import approval_request_create

    result = approval_request_create(
        relying_party=relying_party,
        type=ApprovalRequest.Type.PAYMENT,
        login_hint=card.citizen.user_id,
        binding_message=_binding_message(areq, card),
        payment={"amount": areq.amount, "currency": areq.currency, "payee": areq.merchant_name},
        expires_in=areq.expires_in,
        number_matching=False,
        check_type_allowed=False,  # a 3-D Secure server is allowed "3ds" (checked above), not necessarily "payment"
    )
    return result.approval


def _same_transaction(existing: ThreeDSAuthentication, areq: AReq) -> bool:
    return (
        existing.acct_number_hash == pan_hash(areq.acct_number)
        and existing.message_version == areq.message_version
        and existing.purchase_amount_minor == areq.purchase_amount
        and existing.purchase_currency_numeric == areq.purchase_currency
        and existing.purchase_exponent == areq.purchase_exponent
        and existing.merchant_name == areq.merchant_name
    )


def _replay(*, relying_party: RelyingParty, areq: AReq) -> ThreeDSAuthentication | None:
    existing = (
        ThreeDSAuthentication.objects.select_related("approval")
        .filter(relying_party=relying_party, three_ds_server_trans_id=areq.three_ds_server_trans_id)
        .first()
    )
    if existing is None:
        return None
    if not _same_transaction(existing, areq):
        raise IdempotencyKeyReusedError("This threeDSServerTransID was already used for a different transaction.")
    return existing


@transaction.atomic
def _authentication_create(*, relying_party: RelyingParty, areq: AReq, actor: str) -> ThreeDSAuthentication | ApplicationError:
    """The authentication (new or replayed), or the prompt limit's refusal: then nothing is stored
    for the AReq (a retry with the same threeDSServerTransID after Retry-After starts afresh) but
    the refusal's audit entry, committed with this transaction."""
    existing = _replay(relying_party=relying_party, areq=areq)
    if existing is not None:
        return existing
    digest = pan_hash(areq.acct_number)
    card = Card.objects.select_related("citizen").filter(pan_hash=digest).first()
    approval: ApprovalRequest | None = None
    status, reason = STATUS_DECOUPLED, ""
    if card is None:
        status, reason = STATUS_NOT_AUTHENTICATED, REASON_NO_CARD_RECORD
    else:
        try:
            with transaction.atomic():  # a savepoint: a refusal leaves nothing of the approval behind
                try:
                    approval = _payment_approval_create(relying_party=relying_party, card=card, areq=areq)
                except RateLimitedError as error:  # caught inside the savepoint, which keeps its audit entry
                    return error
        except NoActiveDeviceError:
            status, reason = STATUS_UNAVAILABLE, REASON_NOT_ENROLLED
        except UserLockedError:
            status, reason = STATUS_UNAVAILABLE, REASON_NOT_PERMITTED
    fields: dict[str, Any] = {"acs_trans_id": approval.id} if approval is not None else {}
    authentication = ThreeDSAuthentication.objects.create(
        **fields,
        relying_party=relying_party,
        three_ds_server_trans_id=areq.three_ds_server_trans_id,
        message_version=areq.message_version,
        card=card,
        acct_number_hash=digest,
        approval=approval,
        purchase_amount_minor=areq.purchase_amount,
        purchase_currency_numeric=areq.purchase_currency,
        purchase_exponent=areq.purchase_exponent,
        merchant_name=areq.merchant_name,
        initial_trans_status=status,
        trans_status_reason=reason,
    )
    audit_append(
        action="threeds.authentication_created",
        object_type="threeds_authentication",
        object_id=authentication.acs_trans_id,
        actor=actor,
        data={
            "trans_status": status,
            "trans_status_reason": reason,
            "approval_id": str(approval.id) if approval else None,
            "card_id": str(card.id) if card else None,
            "amount": areq.amount,
            "currency": areq.currency,
            "merchant_name": areq.merchant_name,
        },
    )
    return authentication


def threeds_authentication_create(*, relying_party: RelyingParty, data: Any, actor: str = "") -> ThreeDSAuthentication:
    """Handle an AReq (docs/contract §8): 403 type_not_allowed, 400 validation_error, or the new authentication.

    A repeated AReq with the same threeDSServerTransID answers the first authentication again (no second
    approval); the same id with a different transaction is 422 idempotency_key_reused. An AReq over the
    prompt limits of the card's citizen or of the relying party (docs/contract §7) is 429 rate_limited with
    Retry-After, as for approval requests: the 3-D Secure server may retry it then, or fail the
    transaction; no ARes is stored for it."""
    if not relying_party.allows("3ds"):
        raise TypeNotAllowedError("The relying party is not allowed 3-D Secure authentications.")
    areq = areq_parse(data)
    actor = actor or f"rp:{relying_party.client_id}"
    try:
        created = _authentication_create(relying_party=relying_party, areq=areq, actor=actor)
    except IntegrityError:
        # A concurrent AReq with the same threeDSServerTransID was stored first: answer as for a replay.
        existing = _replay(relying_party=relying_party, areq=areq)
        if existing is None:
            raise
        return existing
    if isinstance(created, ApplicationError):  # RateLimitedError: the prompt limits of docs/contract §7: 429 rate_limited
        raise created
    return created


# --- authentication values ----------------------------------------------------------------------


def _authentication_value_bytes(authentication: ThreeDSAuthentication, approval: ApprovalRequest) -> bytes:
    assert approval.decided_at is not None
    message = json.dumps(
        {
            "acsTransID": str(authentication.acs_trans_id),
            "threeDSServerTransID": authentication.three_ds_server_trans_id,
            "acctNumberHash": authentication.acct_number_hash,
            "amount": approval.payment_amount,
            "currency": approval.payment_currency,
            # Who is paid, as the citizen saw and signed it, and the merchant the 3DS Server named:
            # a value made for one shop cannot stand for a payment to another.
            "payee": approval.payment_payee,
            "merchantName": authentication.merchant_name,
            "decidedAt": approval.decided_at.isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return hmac.new(app_settings.ISSUER_3DS_KEY, message, hashlib.sha256).digest()[:AUTHENTICATION_VALUE_LENGTH]


def threeds_authentication_value(authentication: ThreeDSAuthentication) -> str | None:
    """The base64 authentication value of an approved authentication; None unless approved."""
    approval = authentication.approval
    if approval is None or approval.status != ApprovalRequest.Status.APPROVED or approval.decided_at is None:
        return None
    return base64.b64encode(_authentication_value_bytes(authentication, approval)).decode()


def threeds_authentication_value_verify(*, authentication: ThreeDSAuthentication, authentication_value: Any) -> bool:
    """Recompute the authentication value and compare it in constant time."""
    approval = authentication.approval
    if approval is None or approval.status != ApprovalRequest.Status.APPROVED or approval.decided_at is None:
        return False
    if not isinstance(authentication_value, str) or len(authentication_value) > 64:
        return False
    try:
        given = base64.b64decode(authentication_value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, _authentication_value_bytes(authentication, approval))


@transaction.atomic
def card_remove(*, card: Card, actor: str) -> None:
    """Remove a card registration; its past authentications keep their PAN hash and stay verifiable."""
    card_id, last4, user_id = card.id, card.last4, card.citizen.user_id
    card.delete()
    audit_append(
        action="card.removed", object_type="card", object_id=card_id, actor=actor, data={"user_id": user_id, "last4": last4}
    )
