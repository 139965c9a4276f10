"""Activating a new phone without an activation letter (docs/contract §9).

`POST /api/v1/devices/challenges` makes a challenge for a user ID: which key number of which key
card to type, and whether a key fob code will do. `POST /api/v1/devices` with `challenge` answers it
once with the password and a key card or key fob code, and binds the new key.

No account enumeration:
- A user ID without a citizen gets a challenge of the same shape: a key number and serial hint
  derived from the user ID by a keyed hash (so they stay the same, as a real card's do until used).
  So does a citizen without a usable key card (`key_card` is never null): a code typed for it is
  a wrong code, counted as one.
- Every wrong part (unknown, used or expired challenge, another user ID, wrong password, wrong code)
  is the one answer 400 invalid_credentials, and an unknown user ID costs a password hash too.
- Such a user ID is throttled as a citizen would be (the password's delay and the §7 lock, kept in
  the cache), so the 429s come at the same attempts.
- A wrong password is found before the code is checked; a right password with a wrong code leaves
  the password's delay counted as if the password had been wrong, so the delays never tell which
  part was wrong.

A failed answer also counts for the registration limits per client address, like a failed
registration by activation code.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from citizens import throttle
from citizens.app_settings import app_settings as citizen_settings
from citizens.locks import citizen_is_locked, citizen_record_success
from citizens.models import Citizen
from citizens.services import citizen_password_settle, citizen_password_verify, password_check_dummy, password_schedule
from devices import crypto
from devices.app_settings import app_settings
from devices.models import Device, DeviceChallenge
from devices.registration_limits import (
    RegistrationLimits,
    registration_failure_record,
    registration_limits_check,
    registration_limits_for,
)
from devices.services import (
    device_create_locked,
    device_name_clean,
    proof_payload,
    push_settings_clean,
)
from keycards.services import key_card_blocked_until, key_card_challenge, key_card_code_verify
from keyfobs.selectors import citizen_has_key_fob
from keyfobs.services import key_fob_blocked_until, key_fob_code_verify
from nemid_app_backend.cache import cache_count
from nemid_app_backend.exceptions import (
    InvalidCredentialsError,
    InvalidProofError,
    InvalidPublicKeyError,
    TooManyAttemptsError,
    ValidationError,
)
from nemid_app_backend.secrets import keyed_hash

logger = logging.getLogger(__name__)

PHANTOM_PURPOSE = "device-challenge-phantom"


def _user_id_clean(user_id: Any) -> str:
    if not isinstance(user_id, str) or len(user_id) != 10 or not user_id.isascii() or not user_id.isdigit():
        raise ValidationError({"user_id": ["A user ID is 10 digits."]})
    return user_id


# --- limits: challenges per client address; failed answers as failed registrations -----------------


def _challenges_per_address_check(client_address: str) -> None:
    """Count a challenge for the client address; 429 past CHALLENGES_PER_ADDRESS in the window.
    The cache unreachable: not limited (a challenge reveals nothing and grants nothing)."""
    key = f"nemid:regchallenge:addr:{keyed_hash('registration-limiter', client_address)[:40]}"
    window = app_settings.REGISTRATION_FAILURE_WINDOW
    try:
        count = cache_count(key, timeout=window)
    except Exception:
        logger.warning("device challenge limiter: cache unreachable, not limiting")
        return
    if count > app_settings.CHALLENGES_PER_ADDRESS:
        raise TooManyAttemptsError(headers={"Retry-After": str(window)})


def _answer_limits(*, client_address: str, user_id: Any) -> RegistrationLimits:
    """The registration limits of an answer: per client address, and per citizen (by user ID, so
    that a user ID without a citizen is limited at the same attempt as a citizen would be)."""
    citizen_id = None
    if isinstance(user_id, str) and len(user_id) == 10 and user_id.isascii() and user_id.isdigit():
        citizen_id = Citizen.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
        if citizen_id is None:
            limits = registration_limits_for(client_address=client_address)
            phantom = f"nemid:regfail:phantom:{_phantom_digest(user_id)[:40]}"
            return RegistrationLimits(keys=[*limits.keys, (phantom, app_settings.REGISTRATION_FAILURES_PER_CITIZEN)])
    return registration_limits_for(client_address=client_address, citizen_id=citizen_id)


# --- a user ID without a citizen ------------------------------------------------------------------


def _phantom_digest(user_id: str) -> str:
    return keyed_hash(PHANTOM_PURPOSE, user_id)


def _phantom_shape(user_id: str) -> tuple[str, str, bool]:
    """(serial hint, key number, has a key fob) for a user ID without a citizen: stable per user ID."""
    digest = int(_phantom_digest(user_id)[:16], 16)
    serial_hint = f"{digest % 1000:03d}"
    key = f"{(digest >> 10) % 148 + 1:04d}"
    return serial_hint, key, (digest >> 20) % 8 == 0


def _phantom_state_key(user_id: str) -> str:
    return f"nemid:phantom:{_phantom_digest(user_id)[:40]}"


def _phantom_state(user_id: str) -> dict[str, Any]:
    try:
        state = cache.get(_phantom_state_key(user_id))
    except Exception:
        return {}
    return state if isinstance(state, dict) else {}


def _phantom_gate(user_id: str, now: datetime.datetime) -> None:
    state = _phantom_state(user_id)
    untils = [
        datetime.datetime.fromtimestamp(state[name], tz=datetime.UTC)
        for name in ("locked_until", "blocked_until")
        if state.get(name)
    ]
    untils = [until for until in untils if until > now]
    if untils:
        raise throttle.too_many_attempts(max(untils), now)


def _phantom_failure(user_id: str, now: datetime.datetime) -> None:
    """Count a failed attempt as a citizen's would be: the password's delay and the §7 lock."""
    state = _phantom_state(user_id)
    failures = int(state.get("failures", 0)) + 1
    attempts = int(state.get("attempts", 0)) + 1
    blocked = password_schedule().blocked_until(failures, now)
    state.update(failures=failures, attempts=attempts, blocked_until=blocked.timestamp() if blocked else None)
    if attempts >= citizen_settings.LOCK_THRESHOLD:
        state.update(attempts=0, locked_until=(now + datetime.timedelta(seconds=citizen_settings.LOCK_PERIOD)).timestamp())
    try:
        cache.set(
            _phantom_state_key(user_id), state, timeout=citizen_settings.LOCK_PERIOD + citizen_settings.PASSWORD_MAX_DELAY * 4
        )
    except Exception:
        logger.warning("device challenge: cache unreachable, attempt for an unknown user ID not counted")


# --- making a challenge ---------------------------------------------------------------------------


def device_challenge_create(*, user_id: Any, client_address: str) -> DeviceChallenge:
    """A challenge for this user ID, citizen or not (the same shape either way)."""
    user_id = _user_id_clean(user_id)
    _challenges_per_address_check(client_address)
    now = timezone.now()
    DeviceChallenge.objects.filter(expires_at__lt=now - datetime.timedelta(hours=1)).delete()
    citizen = Citizen.objects.filter(user_id=user_id).first()
    challenge = DeviceChallenge(
        user_id=user_id, citizen=citizen, created_at=now, expires_at=now + datetime.timedelta(seconds=app_settings.CHALLENGE_TTL)
    )
    if citizen is None:
        challenge.key_card_serial_hint, challenge.key_card_key, challenge.key_fob = _phantom_shape(user_id)
    else:
        asked = key_card_challenge(citizen=citizen)
        if asked is not None:
            challenge.key_card_serial_hint, challenge.key_card_key = asked.serial_hint, asked.key
        else:  # no usable card: a key number all the same ("null" would tell that the user ID exists)
            challenge.key_card_serial_hint, challenge.key_card_key, _ = _phantom_shape(user_id)
        challenge.key_fob = citizen_has_key_fob(citizen=citizen)
    with transaction.atomic():
        challenge.save(force_insert=True)
        if citizen is not None:  # a user ID without a citizen has nothing to attach an entry to
            audit_append(
                action="device.challenge_created",
                object_type="citizen",
                object_id=user_id,
                actor=f"challenge:{challenge.id}",
                data={
                    "key_card_key": challenge.key_card_key or None,
                    "key_fob": challenge.key_fob,
                    "client_address": client_address,
                },
            )
    return challenge


# --- answering it ---------------------------------------------------------------------------------


def _challenge_take(*, challenge_id: Any, user_id: Any, now: datetime.datetime) -> DeviceChallenge | None:
    """Lock the challenge, mark it used whatever comes next, and return it if it was answerable
    by this user ID; None for an unknown, used or expired one, or another user ID."""
    try:
        key = uuid.UUID(str(challenge_id))
    except ValueError:
        return None
    with transaction.atomic():
        row = DeviceChallenge.objects.select_for_update().filter(id=key).first()
        if row is None:
            return None
        answerable = row.used_at is None and row.expires_at > now
        if row.used_at is None:
            row.used_at = now
            row.save(update_fields=["used_at"])
    if not answerable or not isinstance(user_id, str) or not hmac.compare_digest(user_id.encode(), row.user_id.encode()):
        return None
    return row


def _citizen_gate(citizen: Citizen, *, method: str, now: datetime.datetime) -> None:
    """429 while the citizen is locked or a part of the answer is throttled: nothing is checked."""
    untils = []
    if citizen_is_locked(citizen, now=now):
        untils.append(citizen.locked_until)
    if throttle.is_blocked(citizen.password_blocked_until, now):
        untils.append(citizen.password_blocked_until)
    untils.append(key_card_blocked_until(citizen=citizen) if method == "key_card" else key_fob_blocked_until(citizen=citizen))
    blocking = [until for until in untils if until is not None]
    if blocking:
        raise throttle.too_many_attempts(max(blocking), now)


def _answer_check(*, row: DeviceChallenge | None, citizen: Citizen | None, answer: dict[str, Any], actor: str) -> Citizen:
    """The citizen when every part of the answer is right; else 400 invalid_credentials (or 429)."""
    now = timezone.now()
    method = "key_card" if answer.get("key_card_code") is not None else "key_fob"
    if row is None or citizen is None:
        if row is not None:  # a user ID without a citizen
            _phantom_gate(row.user_id, now)
        password_check_dummy(password=answer.get("password"))
        if row is not None:
            _phantom_failure(row.user_id, now)
        raise InvalidCredentialsError()
    _citizen_gate(citizen, method=method, now=now)
    citizen_password_verify(citizen=citizen, password=answer.get("password"), actor=actor, settle=False)
    if method == "key_card":
        key_card_code_verify(
            citizen=citizen, key=row.key_card_key, code=answer.get("key_card_code"), purpose="login", actor=actor
        )
    else:
        key_fob_code_verify(citizen=citizen, code=answer.get("key_fob_code"), actor=actor)
    citizen_password_settle(citizen=citizen, actor=actor)
    citizen_record_success(citizen_id=citizen.pk)
    return citizen


def device_register_by_challenge(
    *,
    challenge: Any,
    public_key: Any,
    name: Any,
    platform: Any,
    proof: Any,
    push: Any = None,
    client_address: str,
) -> Device:
    """Bind a new key to the citizen who answers the challenge (docs/contract §9).

    `challenge`: {"challenge_id", "user_id", "password", "key_card_code" | "key_fob_code"}. The proof's
    payload carries "challenge_id" instead of "activation_code". Not one transaction on purpose: each
    part counts its failures in its own committed transaction."""
    if not isinstance(challenge, dict):
        raise ValidationError({"challenge": ["An object {challenge_id, user_id, password, key_card_code | key_fob_code}."]})
    limits = _answer_limits(client_address=client_address, user_id=challenge.get("user_id"))
    registration_limits_check(limits)
    clean_name = device_name_clean(name)
    if platform not in Device.Platform.values:
        raise ValidationError({"platform": [f"One of: {', '.join(Device.Platform.values)}."]})
    push_provider, push_token = push_settings_clean(push) if push is not None else (Device.PushProvider.NONE, "")
    try:
        try:
            key = crypto.load_public_jwk(public_key)
        except crypto.KeyInvalid as exc:
            raise InvalidPublicKeyError(f"The public key is not acceptable: {exc}.") from exc
        payload = proof_payload(proof=proof, key=key)
        signed = payload.get("challenge_id")
        sent = challenge.get("challenge_id")
        if not isinstance(signed, str) or not isinstance(sent, str) or not hmac.compare_digest(signed.encode(), sent.encode()):
            raise InvalidProofError("The proof is not for this challenge.")
        row = _challenge_take(challenge_id=sent, user_id=challenge.get("user_id"), now=timezone.now())
        citizen = row.citizen if row is not None else None
        actor = f"challenge:{row.id}" if row is not None else "challenge:unknown"
        citizen = _answer_check(row=row, citizen=citizen, answer=challenge, actor=actor)
    except (InvalidPublicKeyError, InvalidProofError, InvalidCredentialsError):
        registration_failure_record(limits)
        raise
    with transaction.atomic():
        locked = Citizen.objects.select_for_update().get(pk=citizen.pk)
        return device_create_locked(
            citizen=locked,
            key=key,
            name=clean_name,
            platform=platform,
            push_provider=push_provider,
            push_token=push_token,
            client_address=client_address,
            method="challenge",
        )
