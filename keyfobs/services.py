"""Importing, assigning, checking and revoking key fobs (CONTRACT §9).

- Import: the vendor's RFC 6030 PSKC file, read with python-pskc (encrypted files with a
  pre-shared key or a password); each TOTP key becomes a fob in stock, its seed encrypted.
- Assign: by serial, to one citizen (a citizen holds at most one fob; a new one replaces the old).
- Check: RFC 6238, the fob's digits and period (6 and 30 s as shipped), one step either side of
  the fob's remembered drift; the step of an accepted code is remembered, so that code (and any
  older one) is never accepted again, and so is the drift. After FREE_FAILURES wrong codes in a
  row the fob is blocked for a while (the delay doubles with each further wrong code).

Lock order: the Citizen row, then its KeyFob row.
"""

from __future__ import annotations

import datetime
import hmac
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pskc
import pskc.exceptions
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_append
from citizens import throttle
from citizens.locks import citizen_is_locked, citizen_record_failed_attempt
from citizens.models import Citizen
from keyfobs import totp
from keyfobs.app_settings import app_settings
from keyfobs.models import KeyFob
from nemid_app_backend import secrets as app_secrets
from nemid_app_backend.exceptions import (
    InvalidCredentialsError,
    InvalidPskcError,
    KeyFobAlreadyAssignedError,
    UnknownKeyFobError,
)

SEED_PURPOSE = "key-fob-seed"
TOTP_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SUITES = {
    "sha1": "sha1",
    "hmac-sha1": "sha1",
    "sha256": "sha256",
    "hmac-sha256": "sha256",
    "sha512": "sha512",
    "hmac-sha512": "sha512",
}


@dataclass
class ImportResult:
    serials: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _schedule() -> throttle.Schedule:
    return throttle.Schedule(free=app_settings.FREE_FAILURES, base=app_settings.DELAY, cap=app_settings.MAX_DELAY)


def key_fob_seed(fob: KeyFob) -> bytes:
    return app_secrets.decrypt(fob.seed_encrypted, purpose=SEED_PURPOSE)


# --- import ----------------------------------------------------------------------------------------


def _read_pskc(source: bytes, *, password: str | None, key: bytes | None) -> Any:
    if len(source) > app_settings.MAX_IMPORT_BYTES:
        raise InvalidPskcError(f"The file is larger than {app_settings.MAX_IMPORT_BYTES} bytes.")
    try:
        document = pskc.PSKC(io.BytesIO(source))
        if key is not None:
            document.encryption.key = key
        elif password is not None:
            document.encryption.derive_key(password)
    except (pskc.exceptions.PSKCError, ValueError, TypeError) as exc:
        raise InvalidPskcError(f"The file is not a usable PSKC document: {exc}.") from exc
    except Exception as exc:  # the XML parser's own errors
        raise InvalidPskcError("The file is not well-formed XML.") from exc
    return document


def _fob_fields(entry: Any) -> dict[str, Any]:
    """The stored fields of one PSKC key; raises ValueError with a reason to skip it."""
    if entry.algorithm != TOTP_ALGORITHM:
        raise ValueError(f"not a TOTP key ({entry.algorithm or 'no algorithm'})")
    serial = entry.serial or entry.id
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        raise ValueError("no usable serial")
    try:
        seed = entry.secret
    except pskc.exceptions.PSKCError as exc:  # cannot decrypt: wrong or missing key
        raise ValueError(f"cannot read the secret: {exc}") from exc
    if not seed or len(seed) < 10:
        raise ValueError("no secret, or one shorter than 80 bits")
    digits = entry.response_length or 6
    if digits not in (6, 8):
        raise ValueError("codes must have 6 or 8 digits")
    period = entry.time_interval or 30
    if not 10 <= int(period) <= 120:
        raise ValueError("time step must be 10-120 seconds")
    suite = (entry.algorithm_suite or "sha1").strip().lower()
    if suite not in _SUITES:
        raise ValueError(f"unsupported hash {entry.algorithm_suite}")
    return {
        "serial": serial,
        "manufacturer": (entry.manufacturer or "")[:100],
        "seed_encrypted": app_secrets.encrypt(bytes(seed), purpose=SEED_PURPOSE),
        "digits": digits,
        "period": int(period),
        "digest": _SUITES[suite],
        "drift": _remembered_drift(int(entry.time_drift or 0)),
    }


def _remembered_drift(steps: int) -> int:
    """A fob's clock drift as remembered: at most MAX_REMEMBERED_DRIFT steps either way (a vendor's
    file may say more; a fob that far off needs a new battery, not a wider window)."""
    limit = app_settings.MAX_REMEMBERED_DRIFT
    return max(-limit, min(limit, steps))


def key_fobs_import(*, source: bytes, actor: str, password: str | None = None, key: bytes | None = None) -> ImportResult:
    """Import the TOTP keys of a PSKC file as fobs in stock. Serials already known are skipped, as
    are keys that are not TOTP or not readable (each with its reason); a file with no key at all,
    or none readable, is 400 invalid_pskc."""
    document = _read_pskc(source, password=password, key=key)
    result = ImportResult()
    try:
        entries = list(document.keys)
    except pskc.exceptions.PSKCError as exc:
        raise InvalidPskcError(f"The file is not a usable PSKC document: {exc}.") from exc
    if not entries:
        raise InvalidPskcError("The file holds no keys.")
    with transaction.atomic():
        for entry in entries:
            label = str(entry.serial or entry.id or "?")[:64]
            try:
                fields = _fob_fields(entry)
            except ValueError as exc:
                result.skipped.append({"serial": label, "reason": str(exc)})
                continue
            if KeyFob.objects.filter(serial=fields["serial"]).exists() or fields["serial"] in result.serials:
                result.skipped.append({"serial": fields["serial"], "reason": "already imported"})
                continue
            try:
                with transaction.atomic():
                    fob = KeyFob.objects.create(imported_by=actor[:128], **fields)
            except IntegrityError:  # imported concurrently
                result.skipped.append({"serial": fields["serial"], "reason": "already imported"})
                continue
            result.serials.append(fob.serial)
            audit_append(
                action="key_fob.imported",
                object_type="key_fob",
                object_id=fob.serial,
                actor=actor,
                data={"manufacturer": fob.manufacturer, "digits": fob.digits, "period": fob.period, "digest": fob.digest},
            )
        if not result.serials and all(item["reason"] != "already imported" for item in result.skipped):
            raise InvalidPskcError(
                "No key in the file could be imported: "
                + "; ".join(f"{item['serial']}: {item['reason']}" for item in result.skipped[:5])
            )
    return result


# --- assign and revoke -----------------------------------------------------------------------------


def _revoke_locked(fob: KeyFob, *, actor: str, reason: str, now: datetime.datetime) -> None:
    user_id = fob.citizen.user_id if fob.citizen is not None else None
    fob.status = KeyFob.Status.REVOKED
    fob.revoked_at = now
    fob.save(update_fields=["status", "revoked_at"])
    audit_append(
        action="key_fob.revoked",
        object_type="key_fob",
        object_id=fob.serial,
        actor=actor,
        data={"user_id": user_id, "reason": reason[:200]},
    )


@transaction.atomic
def key_fob_assign(*, citizen: Citizen, serial: Any, actor: str) -> KeyFob:
    """Assign the fob in stock with this serial to the citizen (replacing the citizen's current fob,
    which is revoked). 404 unknown_key_fob; 409 key_fob_already_assigned when it belongs to another
    citizen or is revoked. Assigning a fob to its own holder again changes nothing."""
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        raise UnknownKeyFobError()
    Citizen.objects.select_for_update().filter(pk=citizen.pk).first()
    fob = KeyFob.objects.select_for_update(of=("self",)).select_related("citizen").filter(serial=serial).first()
    if fob is None:
        raise UnknownKeyFobError()
    if fob.status == KeyFob.Status.ASSIGNED and fob.citizen_id == citizen.pk:
        return fob
    if fob.status != KeyFob.Status.STOCK:
        raise KeyFobAlreadyAssignedError()
    now = timezone.now()
    for previous in (
        KeyFob.objects.select_for_update(of=("self",))
        .select_related("citizen")
        .filter(citizen=citizen, status=KeyFob.Status.ASSIGNED)
    ):
        _revoke_locked(previous, actor=actor, reason=f"replaced by key fob {fob.serial}", now=now)
    fob.citizen = citizen
    fob.status = KeyFob.Status.ASSIGNED
    fob.assigned_at = now
    fob.failures = 0
    fob.blocked_until = None
    fob.save(update_fields=["citizen", "status", "assigned_at", "failures", "blocked_until"])
    audit_append(
        action="key_fob.assigned", object_type="key_fob", object_id=fob.serial, actor=actor, data={"user_id": citizen.user_id}
    )
    return fob


@transaction.atomic
def key_fob_revoke(*, fob: KeyFob, actor: str, reason: str = "") -> KeyFob:
    """Revoke a fob for good (lost, broken). Revoking twice changes nothing."""
    locked = KeyFob.objects.select_for_update(of=("self",)).select_related("citizen").get(pk=fob.pk)
    if locked.status != KeyFob.Status.REVOKED:
        _revoke_locked(locked, actor=actor, reason=reason or "revoked by an operator", now=timezone.now())
    return locked


# --- check -----------------------------------------------------------------------------------------


def key_fob_match(fob: KeyFob, code: str, now: datetime.datetime) -> int | None:
    """The time step whose code this is, within the drift window and after the last accepted step; or None."""
    seed = key_fob_seed(fob)
    current = totp.time_step(now, fob.period)
    window = app_settings.DRIFT_STEPS
    # closest to the remembered drift first, so that a code valid for two candidates picks the likelier
    offsets = sorted(range(-window, window + 1), key=abs)
    matched = None
    for offset in offsets:
        step = current + fob.drift + offset
        if fob.last_step is not None and step <= fob.last_step:
            continue
        expected = totp.code_at_step(seed, step, digits=fob.digits, digest=fob.digest, period=fob.period)
        if hmac.compare_digest(expected.encode(), code.encode()) and matched is None:
            matched = step  # keep comparing the rest: the time taken does not depend on which matched
    return matched


def key_fob_blocked_until(*, citizen: Citizen) -> datetime.datetime | None:
    fob = KeyFob.objects.filter(citizen=citizen, status=KeyFob.Status.ASSIGNED).first()
    if fob is None or not throttle.is_blocked(fob.blocked_until, timezone.now()):
        return None
    return fob.blocked_until


def key_fob_code_verify(*, citizen: Citizen, code: Any, actor: str = "") -> None:
    """Check a code shown by the citizen's fob and use it.

    Returns quietly when right. Raises 400 invalid_credentials when wrong, used before, or the
    citizen has no fob (counted toward the fob's block and the §7 lock); 429 too_many_attempts
    (Retry-After) while the fob is blocked or the citizen locked (not checked, not counted).
    A right code does not reset the §7 count: call citizens.locks.citizen_record_success when the
    whole authentication has succeeded. Do not call it inside a transaction that the error would
    roll back."""
    actor = actor or f"citizen:{citizen.user_id}"
    with transaction.atomic():
        outcome = _check_and_use(citizen=citizen, code=code, actor=actor)
    if isinstance(outcome, Exception):
        raise outcome
    if outcome == "wrong":
        citizen_record_failed_attempt(citizen_id=citizen.pk, reason="wrong_key_fob_code", actor=actor)
        raise InvalidCredentialsError()


def _normalize(code: Any, digits: int) -> str | None:
    if not isinstance(code, str) or len(code) > 32:
        return None
    compact = re.sub(r"[\s\-]+", "", code)
    if len(compact) != digits or not compact.isascii() or not compact.isdigit():
        return None
    return compact


def _check_and_use(*, citizen: Citizen, code: Any, actor: str) -> str | Exception:
    locked_citizen = Citizen.objects.select_for_update().get(pk=citizen.pk)
    now = timezone.now()
    if citizen_is_locked(locked_citizen, now=now):
        assert locked_citizen.locked_until is not None
        return throttle.too_many_attempts(
            locked_citizen.locked_until, now, "The citizen is locked after too many failed attempts."
        )
    fob = KeyFob.objects.select_for_update().filter(citizen=citizen, status=KeyFob.Status.ASSIGNED).first()
    if fob is None:
        audit_append(
            action="key_fob.code_failed",
            object_type="citizen",
            object_id=citizen.user_id,
            actor=actor,
            data={"reason": "no key fob"},
        )
        return "wrong"
    if throttle.is_blocked(fob.blocked_until, now):
        assert fob.blocked_until is not None
        return throttle.too_many_attempts(fob.blocked_until, now, "The key fob is blocked after wrong codes; try again later.")
    normalized = _normalize(code, fob.digits)
    step = key_fob_match(fob, normalized, now) if normalized is not None else None
    if step is None:
        fob.failures += 1
        fob.blocked_until = _schedule().blocked_until(fob.failures, now)
        fob.save(update_fields=["failures", "blocked_until"])
        audit_append(
            action="key_fob.code_failed",
            object_type="key_fob",
            object_id=fob.serial,
            actor=actor,
            data={
                "user_id": citizen.user_id,
                "failures": fob.failures,
                "blocked_until": fob.blocked_until.isoformat() if fob.blocked_until else None,
            },
        )
        return "wrong"
    fob.drift = _remembered_drift(step - totp.time_step(now, fob.period))
    fob.last_step = step
    fob.failures = 0
    fob.blocked_until = None
    fob.last_used_at = now
    fob.save(update_fields=["drift", "last_step", "failures", "blocked_until", "last_used_at"])
    audit_append(
        action="key_fob.code_used",
        object_type="key_fob",
        object_id=fob.serial,
        actor=actor,
        data={"user_id": citizen.user_id, "drift": fob.drift},
    )
    return "right"
