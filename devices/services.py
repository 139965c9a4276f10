"""Device registration (keypair binding), updates and revocation (docs/contract §4).

Registration is authenticated by a single-use activation code and a proof of possession of the
new private key. Failed registrations are limited per client address, per code, per citizen and
across the service (devices.registration_limits).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
import unicodedata
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_append
from citizens.models import Citizen
from citizens.services import activation_code_consume, activation_code_lock_usable, activation_code_normalize
from devices import crypto
from devices.app_settings import app_settings
from devices.events import device_revoked
from devices.models import Device
from devices.registration_limits import registration_failure_record, registration_limits_check, registration_limits_for
from devices.selectors import device_key_registered, devices_active_for_citizen
from nemid_app_backend.exceptions import (
    DeviceAlreadyRegisteredError,
    DeviceLimitReachedError,
    InvalidActivationCodeError,
    InvalidProofError,
    InvalidPublicKeyError,
    ValidationError,
)
from nemid_app_backend.outbound import validate_outbound_url
from nemid_app_backend.parsers import json_loads

logger = logging.getLogger(__name__)

PROOF_TYP = "device-registration+jwt"
DEVICE_NAME_MAX_LENGTH = 100
PUSH_TOKEN_MAX_LENGTH = 4096
_UNSET: Any = object()


# --- input rules shared by registration and updates ---------------------------------------------


def device_name_clean(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": ["A device name is required."]})
    cleaned = " ".join(name.split())
    if len(cleaned) > DEVICE_NAME_MAX_LENGTH:
        raise ValidationError({"name": [f"At most {DEVICE_NAME_MAX_LENGTH} characters."]})
    if any(unicodedata.category(char).startswith("C") for char in cleaned):
        raise ValidationError({"name": ["Control characters are not allowed."]})
    return cleaned


def _b64url_bytes(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def _push_subscription_validate(token: str) -> None:
    """A Web Push PushSubscription as JSON: {"endpoint": "https://...", "keys": {"p256dh", "auth"}}."""

    def invalid(message: str) -> ValidationError:
        return ValidationError({"push.token": [message]})

    try:
        subscription = json_loads(token)
    except ValueError as exc:
        raise invalid("For webpush the token is the browser's PushSubscription as a JSON string.") from exc
    if not isinstance(subscription, dict):
        raise invalid("The PushSubscription must be a JSON object.")
    validate_outbound_url(subscription.get("endpoint"), field="push.token")
    keys = subscription.get("keys")
    if not isinstance(keys, dict):
        raise invalid("The PushSubscription needs keys.p256dh and keys.auth.")
    p256dh, auth = _b64url_bytes(keys.get("p256dh")), _b64url_bytes(keys.get("auth"))
    if p256dh is None or len(p256dh) != 65 or p256dh[0] != 4:
        raise invalid("keys.p256dh must be a base64url uncompressed P-256 point.")
    if auth is None or len(auth) != 16:
        raise invalid("keys.auth must be 16 bytes, base64url.")


def push_settings_clean(push: Any) -> tuple[str, str]:
    """(provider, token) from a `push` object; provider `none` takes no token."""
    if not isinstance(push, dict):
        raise ValidationError({"push": ["An object {provider, token}."]})
    provider, token = push.get("provider"), push.get("token")
    if provider not in Device.PushProvider.values:
        raise ValidationError({"push.provider": [f"One of: {', '.join(Device.PushProvider.values)}."]})
    if provider == Device.PushProvider.NONE:
        if token is not None and token != "":
            raise ValidationError({"push.token": ["Provider none takes no token."]})
        return provider, ""
    if not isinstance(token, str) or not token.strip():
        raise ValidationError({"push.token": [f"A token is required for provider {provider}."]})
    if len(token) > PUSH_TOKEN_MAX_LENGTH:
        raise ValidationError({"push.token": [f"At most {PUSH_TOKEN_MAX_LENGTH} characters."]})
    if any(unicodedata.category(char) == "Cc" for char in token):
        raise ValidationError({"push.token": ["Control characters are not allowed."]})
    if provider == Device.PushProvider.WEBPUSH:
        _push_subscription_validate(token)
    return provider, token


# --- registration --------------------------------------------------------------------------------


def _signed_code_matches(signed: Any, sent: str) -> bool:
    def canonical(value: Any) -> str | None:
        return activation_code_normalize(value) or (value if isinstance(value, str) else None)

    signed_canonical, sent_canonical = canonical(signed), canonical(sent)
    if signed_canonical is None or sent_canonical is None:
        return False
    return hmac.compare_digest(signed_canonical.encode(), sent_canonical.encode())


def proof_payload(*, proof: Any, key: crypto.DeviceKey) -> dict[str, Any]:
    """The payload of a registration proof signed by `key` with a fresh iat; else 400 invalid_proof."""
    try:
        _, payload = crypto.verify_jws(proof, key, typ=PROOF_TYP)
    except crypto.JwsInvalid as exc:
        raise InvalidProofError(f"The proof is not valid: {exc}.") from exc
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise InvalidProofError("The proof's iat must be an integer.")
    if abs(int(time.time()) - iat) > app_settings.PROOF_MAX_AGE:
        raise InvalidProofError(f"The proof's iat must be within {app_settings.PROOF_MAX_AGE} seconds of now.")
    return payload


def _verify_proof(*, proof: Any, key: crypto.DeviceKey, activation_code: str) -> None:
    payload = proof_payload(proof=proof, key=key)
    if not _signed_code_matches(payload.get("activation_code"), activation_code):
        raise InvalidProofError("The proof is not for this activation code.")


@transaction.atomic
def _device_bind(
    *,
    activation_code: str,
    key: crypto.DeviceKey,
    name: str,
    platform: str,
    push_provider: str,
    push_token: str,
    client_address: str,
) -> Device:
    code_row = activation_code_lock_usable(code=activation_code)  # locks the code: one registration wins
    citizen = Citizen.objects.select_for_update().get(pk=code_row.citizen_id)  # orders the device count
    device = device_create_locked(
        citizen=citizen,
        key=key,
        name=name,
        platform=platform,
        push_provider=push_provider,
        push_token=push_token,
        client_address=client_address,
        method="activation_code",
    )
    activation_code_consume(activation_code=code_row, actor=f"device:{device.id}")
    return device


def device_create_locked(
    *,
    citizen: Citizen,
    key: crypto.DeviceKey,
    name: str,
    platform: str,
    push_provider: str,
    push_token: str,
    client_address: str,
    method: str,
) -> Device:
    """Bind the key to the citizen, whose row the caller has locked in this transaction (it orders
    the device count). 409 device_already_registered, 409 device_limit_reached; audited."""
    if device_key_registered(thumbprint=key.thumbprint):
        raise DeviceAlreadyRegisteredError()
    if devices_active_for_citizen(citizen=citizen).count() >= app_settings.MAX_ACTIVE_DEVICES:
        raise DeviceLimitReachedError(max_active_devices=app_settings.MAX_ACTIVE_DEVICES)
    try:
        with transaction.atomic():
            device = Device.objects.create(
                citizen=citizen,
                name=name,
                platform=platform,
                public_jwk=key.jwk,
                alg=key.alg,
                key_thumbprint=key.thumbprint,
                push_provider=push_provider,
                push_token=push_token,
            )
    except IntegrityError as exc:  # the same key registered concurrently
        raise DeviceAlreadyRegisteredError() from exc
    audit_append(
        action="device.registered",
        object_type="device",
        object_id=device.id,
        actor=f"device:{device.id}",
        data={
            "user_id": citizen.user_id,
            "method": method,
            "platform": platform,
            "alg": key.alg,
            "key_thumbprint": key.thumbprint,
            "push_provider": push_provider,
            "client_address": client_address,
        },
    )
    return device


def device_register(
    *,
    activation_code: str,
    public_key: Any,
    name: Any,
    platform: Any,
    proof: Any,
    push: Any = None,
    client_address: str,
) -> Device:
    """Bind a new public key to the citizen who holds `activation_code`, consuming the code.

    Not one transaction on purpose: the failure counters live in the cache and must outlast the
    rollback of a failed attempt; the binding itself (`_device_bind`) is atomic."""
    limits = registration_limits_for(client_address=client_address, activation_code=activation_code)
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
        _verify_proof(proof=proof, key=key, activation_code=activation_code)
        return _device_bind(
            activation_code=activation_code,
            key=key,
            name=clean_name,
            platform=platform,
            push_provider=push_provider,
            push_token=push_token,
            client_address=client_address,
        )
    except (InvalidPublicKeyError, InvalidProofError, InvalidActivationCodeError):
        registration_failure_record(limits)
        raise


# --- the device's own changes --------------------------------------------------------------------


@transaction.atomic
def device_update(*, device: Device, actor: str, name: Any = _UNSET, push: Any = _UNSET) -> Device:
    """Rename the device and/or change its push settings; audited (without the push token)."""
    locked = Device.objects.select_for_update().get(pk=device.pk)
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = device_name_clean(name)
    if push is not _UNSET:
        changes["push_provider"], changes["push_token"] = push_settings_clean(push)
    changes = {field: value for field, value in changes.items() if getattr(locked, field) != value}
    if changes:
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(changes))
        audit_append(
            action="device.updated",
            object_type="device",
            object_id=locked.id,
            actor=actor,
            data={field: ("<changed>" if field == "push_token" else value) for field, value in changes.items()},
        )
    return locked


@transaction.atomic
def device_revoke(*, device: Device, actor: str, reason: str = "") -> Device:
    """Revoke for good: the device never authenticates again. Revoking twice changes nothing."""
    locked = Device.objects.select_for_update().get(pk=device.pk)
    if locked.status == Device.Status.REVOKED:
        return locked
    locked.status = Device.Status.REVOKED
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["status", "revoked_at"])
    audit_append(
        action="device.revoked",
        object_type="device",
        object_id=locked.id,
        actor=actor,
        data={"user_id": locked.citizen.user_id, "reason": reason[:200]},
    )
    device_revoked(locked)
    return locked
