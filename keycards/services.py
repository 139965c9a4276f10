"""Issuing, asking, checking, replacing and revoking key cards (CONTRACT §9).

- Issue: 148 codes, 6 random digits each, under key numbers 0001-0148; shown once (command, admin)
  or, for an automatic replacement, kept encrypted until printed once; stored as keyed hashes.
- Ask: the server picks a random unused key number of the card in use, and asks for that same
  number until it is answered right (asking again never offers another number).
- Check: the code for the asked key number, used once. A wrong code counts toward the card's
  own delay and the citizen's §7 lock. The card in use is the active card while it has codes;
  after that the replacement, whose first use makes it active and retires the old card.
- At REISSUE_AT codes left, a replacement is issued and queued for printing.
- A key card never approves a payment or a 3-D Secure authentication.

Lock order: the Citizen row, then its KeyCard rows.
"""

from __future__ import annotations

import datetime
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from citizens import throttle
from citizens.locks import citizen_is_locked, citizen_record_failed_attempt
from citizens.models import Citizen
from keycards.app_settings import app_settings
from keycards.models import CODES_PER_CARD, KeyCard, KeyCardCode
from keycards.selectors import key_card_in_use
from nemid_app_backend import secrets as app_secrets
from nemid_app_backend.exceptions import AuthenticatorNotAllowedError, InvalidCredentialsError
from nemid_app_backend.secrets import keyed_hash

CODE_PURPOSE = "key-card-code"
PRINT_PURPOSE = "key-card-print"
SERIAL_DIGITS = 10
FORBIDDEN_PURPOSES = frozenset({"payment", "3ds"})
_CODE_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class KeyCardChallenge:
    """What to ask the citizen: "key number `key` of the card ending in `serial_hint`"."""

    serial_hint: str  # the last 3 digits of the card's serial
    key: str  # "0042"


@dataclass(frozen=True)
class IssuedKeyCard:
    card: KeyCard
    codes: dict[str, str]  # key number -> code, in clear: shown or printed once, never stored


def key_numbers() -> list[str]:
    return [f"{number:04d}" for number in range(1, CODES_PER_CARD + 1)]


def code_hash(card: KeyCard, key: str, code: str) -> str:
    return keyed_hash(CODE_PURPOSE, f"{card.id}:{key}:{code}")


def code_normalize(value: Any) -> str | None:
    """Six ASCII digits from what was typed (spaces and dashes ignored), or None."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    compact = _CODE_SEPARATORS.sub("", value)
    if len(compact) != 6 or not compact.isascii() or not compact.isdigit():
        return None
    return compact


def _schedule() -> throttle.Schedule:
    return throttle.Schedule(free=app_settings.FREE_FAILURES, base=app_settings.DELAY, cap=app_settings.MAX_DELAY)


def _new_serial() -> str:
    for _ in range(20):
        serial = str(10 ** (SERIAL_DIGITS - 1) + secrets.randbelow(9 * 10 ** (SERIAL_DIGITS - 1)))
        if not KeyCard.objects.filter(serial=serial).exists():
            return serial
    raise RuntimeError("could not allocate a unique key card serial")  # pragma: no cover


# --- issue -----------------------------------------------------------------------------------------


@transaction.atomic
def key_card_issue(*, citizen: Citizen, actor: str, queue_for_printing: bool = False) -> IssuedKeyCard:
    """Issue a card: active when the citizen has none, else the pending replacement (superseding
    an earlier unused replacement). `queue_for_printing` keeps the codes encrypted for
    `print_key_cards`; otherwise the caller shows them once and they are gone."""
    Citizen.objects.select_for_update().filter(pk=citizen.pk).first()  # orders concurrent issues
    now = timezone.now()
    has_active = KeyCard.objects.filter(citizen=citizen, status=KeyCard.Status.ACTIVE).exists()
    if has_active:
        for earlier in KeyCard.objects.select_for_update().filter(citizen=citizen, status=KeyCard.Status.PENDING):
            _revoke_locked(earlier, actor=actor, reason="superseded by a newer card", now=now)
    codes = {key: f"{secrets.randbelow(10**6):06d}" for key in key_numbers()}
    card = KeyCard(
        citizen=citizen,
        serial=_new_serial(),
        status=KeyCard.Status.PENDING if has_active else KeyCard.Status.ACTIVE,
        issued_by=actor[:128],
        auto_issued=queue_for_printing,
        activated_at=None if has_active else now,
    )
    if queue_for_printing:
        card.print_payload_encrypted = app_secrets.encrypt(json.dumps(codes).encode(), purpose=PRINT_PURPOSE)
        card.print_queued_at = now
    card.save()
    KeyCardCode.objects.bulk_create(
        KeyCardCode(card=card, key_number=key, code_hash=code_hash(card, key, code)) for key, code in codes.items()
    )
    audit_append(
        action="key_card.reissued" if queue_for_printing else "key_card.issued",
        object_type="key_card",
        object_id=card.id,
        actor=actor,
        data={
            "user_id": citizen.user_id,
            "serial": card.serial,
            "status": card.status,
            "queued_for_printing": queue_for_printing,
        },
    )
    return IssuedKeyCard(card=card, codes=codes)


def key_cards_print_queued(*, actor: str) -> list[dict[str, Any]]:
    """Take every card queued for printing, once: returns {"card_id", "serial", "user_id", "codes"}
    per card and forgets the codes (the card is marked printed in the same transaction)."""
    printed: list[dict[str, Any]] = []
    with transaction.atomic():
        queued = (
            KeyCard.objects.select_for_update(skip_locked=True)
            .select_related("citizen")
            .filter(print_queued_at__isnull=False, printed_at__isnull=True)
            .order_by("print_queued_at")
        )
        now = timezone.now()
        for card in queued:
            codes = json.loads(app_secrets.decrypt(card.print_payload_encrypted, purpose=PRINT_PURPOSE))
            printed.append({"card_id": str(card.id), "serial": card.serial, "user_id": card.citizen.user_id, "codes": codes})
            card.printed_at = now
            card.print_payload_encrypted = ""
            card.save(update_fields=["printed_at", "print_payload_encrypted"])
            audit_append(
                action="key_card.printed",
                object_type="key_card",
                object_id=card.id,
                actor=actor,
                data={"user_id": card.citizen.user_id, "serial": card.serial},
            )
    return printed


# --- revoke ----------------------------------------------------------------------------------------


def _revoke_locked(card: KeyCard, *, actor: str, reason: str, now: datetime.datetime) -> None:
    card.status = KeyCard.Status.REVOKED
    card.revoked_at = now
    card.print_payload_encrypted = ""  # a revoked card is never printed
    card.asked_key = ""
    card.save(update_fields=["status", "revoked_at", "print_payload_encrypted", "asked_key"])
    audit_append(
        action="key_card.revoked",
        object_type="key_card",
        object_id=card.id,
        actor=actor,
        data={"user_id": card.citizen.user_id, "serial": card.serial, "reason": reason[:200]},
    )


@transaction.atomic
def key_card_revoke(*, card: KeyCard, actor: str, reason: str = "") -> KeyCard:
    """Revoke a card for good (operator). A revoked active card's pending replacement becomes the
    active card. Revoking twice changes nothing."""
    Citizen.objects.select_for_update().filter(pk=card.citizen_id).first()
    locked = KeyCard.objects.select_for_update().select_related("citizen").get(pk=card.pk)
    if locked.status in (KeyCard.Status.REVOKED, KeyCard.Status.RETIRED):
        return locked
    now = timezone.now()
    was_active = locked.status == KeyCard.Status.ACTIVE
    _revoke_locked(locked, actor=actor, reason=reason or "revoked by an operator", now=now)
    if was_active:
        replacement = (
            KeyCard.objects.select_for_update().filter(citizen_id=locked.citizen_id, status=KeyCard.Status.PENDING).first()
        )
        if replacement is not None:
            _activate_locked(replacement, actor=actor, now=now, retire=False)
    return locked


# --- ask and check ---------------------------------------------------------------------------------


@transaction.atomic
def key_card_challenge(*, citizen: Citizen) -> KeyCardChallenge | None:
    """The key number to ask for, or None when the citizen has no usable card."""
    Citizen.objects.select_for_update().filter(pk=citizen.pk).first()
    card = key_card_in_use(citizen=citizen, lock=True)
    if card is None:
        return None
    unused = list(KeyCardCode.objects.filter(card=card, used_at__isnull=True).values_list("key_number", flat=True))
    if not unused:
        return None
    if card.asked_key not in unused:
        card.asked_key = secrets.choice(unused)
        card.save(update_fields=["asked_key"])
    return KeyCardChallenge(serial_hint=card.serial[-3:], key=card.asked_key)


def key_card_blocked_until(*, citizen: Citizen) -> datetime.datetime | None:
    """Until when the card in use refuses to be checked (its throttle), or None."""
    card = key_card_in_use(citizen=citizen)
    if card is None or not throttle.is_blocked(card.blocked_until, timezone.now()):
        return None
    return card.blocked_until


def _activate_locked(card: KeyCard, *, actor: str, now: datetime.datetime, retire: bool) -> None:
    """Make a pending card active; with `retire`, the current active card is retired first."""
    if retire:
        for old in KeyCard.objects.select_for_update().filter(citizen_id=card.citizen_id, status=KeyCard.Status.ACTIVE):
            old.status = KeyCard.Status.RETIRED
            old.retired_at = now
            old.asked_key = ""
            old.save(update_fields=["status", "retired_at", "asked_key"])
            audit_append(
                action="key_card.retired",
                object_type="key_card",
                object_id=old.id,
                actor=actor,
                data={"user_id": card.citizen.user_id, "serial": old.serial, "replaced_by": card.serial},
            )
    card.status = KeyCard.Status.ACTIVE
    card.activated_at = now
    card.save(update_fields=["status", "activated_at"])
    audit_append(
        action="key_card.activated",
        object_type="key_card",
        object_id=card.id,
        actor=actor,
        data={"user_id": card.citizen.user_id, "serial": card.serial},
    )


def key_card_code_verify(*, citizen: Citizen, key: Any, code: Any, purpose: str = "login", actor: str = "") -> None:
    """Check the code for the key number the server asked for (key_card_challenge) and use it.

    Returns quietly when right. Raises 400 invalid_credentials when the key is not the one asked,
    the code is wrong or used, or the citizen has no usable card (each counted as a failed attempt
    toward the card's delay and the §7 lock); 429 too_many_attempts (Retry-After) while the card
    is throttled or the citizen locked (not checked, not counted); 403 authenticator_not_allowed
    for `purpose` "payment" or "3ds". A right code does not reset the §7 count: call
    citizens.locks.citizen_record_success when the whole authentication has succeeded.

    Do not call it inside a transaction that the error would roll back: the failure is committed
    before the error is raised."""
    if purpose in FORBIDDEN_PURPOSES:
        raise AuthenticatorNotAllowedError()
    actor = actor or f"citizen:{citizen.user_id}"
    with transaction.atomic():
        outcome = _check_and_use(citizen=citizen, key=key, code=code, actor=actor)
    if isinstance(outcome, Exception):
        raise outcome
    if outcome == "wrong":
        citizen_record_failed_attempt(citizen_id=citizen.pk, reason="wrong_key_card_code", actor=actor)
        raise InvalidCredentialsError()


def _check_and_use(*, citizen: Citizen, key: Any, code: Any, actor: str) -> str | Exception:
    """Inside a transaction: "right", "wrong", or the 429 to raise after the transaction."""
    locked_citizen = Citizen.objects.select_for_update().get(pk=citizen.pk)
    now = timezone.now()
    if citizen_is_locked(locked_citizen, now=now):
        assert locked_citizen.locked_until is not None
        return throttle.too_many_attempts(
            locked_citizen.locked_until, now, "The citizen is locked after too many failed attempts."
        )
    card = key_card_in_use(citizen=locked_citizen, lock=True)
    if card is None:
        audit_append(
            action="key_card.code_failed",
            object_type="citizen",
            object_id=citizen.user_id,
            actor=actor,
            data={"reason": "no usable key card"},
        )
        return "wrong"
    if throttle.is_blocked(card.blocked_until, now):
        assert card.blocked_until is not None
        return throttle.too_many_attempts(card.blocked_until, now, "Too many wrong key card codes; try again later.")
    normalized = code_normalize(code)
    row = None
    if isinstance(key, str) and card.asked_key and hmac.compare_digest(key.encode(), card.asked_key.encode()):
        row = KeyCardCode.objects.select_for_update().filter(card=card, key_number=card.asked_key, used_at__isnull=True).first()
    right = (
        row is not None
        and normalized is not None
        and hmac.compare_digest(row.code_hash, code_hash(card, card.asked_key, normalized))
    )
    if not right:
        card.failures += 1
        card.blocked_until = _schedule().blocked_until(card.failures, now)
        card.save(update_fields=["failures", "blocked_until"])
        audit_append(
            action="key_card.code_failed",
            object_type="key_card",
            object_id=card.id,
            actor=actor,
            data={"user_id": citizen.user_id, "serial": card.serial, "key": card.asked_key, "failures": card.failures},
        )
        return "wrong"
    assert row is not None
    row.used_at = now
    row.save(update_fields=["used_at"])
    used_key = card.asked_key
    card.asked_key = ""
    card.failures = 0
    card.blocked_until = None
    card.last_used_at = now
    card.save(update_fields=["asked_key", "failures", "blocked_until", "last_used_at"])
    codes_left = KeyCardCode.objects.filter(card=card, used_at__isnull=True).count()
    audit_append(
        action="key_card.code_used",
        object_type="key_card",
        object_id=card.id,
        actor=actor,
        data={"user_id": citizen.user_id, "serial": card.serial, "key": used_key, "codes_left": codes_left},
    )
    if card.status == KeyCard.Status.PENDING:
        _activate_locked(card, actor=actor, now=now, retire=True)
    if (
        card.status == KeyCard.Status.ACTIVE
        and codes_left <= app_settings.REISSUE_AT
        and not KeyCard.objects.filter(citizen=citizen, status=KeyCard.Status.PENDING).exists()
    ):
        key_card_issue(citizen=locked_citizen, actor="system:key-card-reissue", queue_for_printing=True)
    return "right"
