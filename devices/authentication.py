"""Device tokens (docs/contract §1): a short-lived compact JWS per request, signed by the device key.

`device_token_authenticate` is shared by the DRF authentication class and the device WebSocket.
Seen `jti`s are kept in the cache (Redis when configured) until their `exp`; if the cache cannot
be reached, the database takes over so that replay protection never silently turns off.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from devices import crypto
from devices.app_settings import app_settings
from devices.models import Device, SeenTokenId
from devices.selectors import device_get
from nemid_app_backend.exceptions import InvalidDeviceTokenError

logger = logging.getLogger(__name__)

TOKEN_TYP = "device+jwt"


def device_key(device: Device) -> crypto.DeviceKey:
    return crypto.load_public_jwk(device.public_jwk)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _remember_jti(device_id: uuid.UUID, jti: str, exp: int, now: int) -> bool:
    """Record a jti; False if it was seen before."""
    ttl = max(exp - now, 0) + 1
    try:
        return bool(cache.add(f"nemid:jti:{device_id}:{jti}", 1, timeout=ttl))
    except Exception:  # cache unreachable: fall back to the database
        logger.warning("jti cache unavailable; using the database")
    try:
        with transaction.atomic():
            SeenTokenId.objects.filter(expires_at__lt=timezone.now()).delete()
            SeenTokenId.objects.create(
                device_id=device_id, jti=jti, expires_at=datetime.datetime.fromtimestamp(exp, tz=datetime.UTC)
            )
    except IntegrityError:
        return False
    return True


def device_token_authenticate(token: str, *, method: str, path: str) -> Device:
    """Verify a device token for one request and return its active device, or raise 401."""
    try:
        header = crypto.unverified_header(token)
    except crypto.JwsInvalid as exc:
        raise InvalidDeviceTokenError("The device token is not a compact JWS.") from exc
    try:
        device_id = uuid.UUID(str(header.get("kid")))
    except ValueError as exc:
        raise InvalidDeviceTokenError("The device token's kid is not a device id.") from exc
    device = device_get(device_id=device_id)  # the citizen is read only where a view needs it
    if device is None or not device.is_active:
        raise InvalidDeviceTokenError("The device is unknown or revoked.")
    try:
        _, claims = crypto.verify_jws(token, device_key(device), typ=TOKEN_TYP)
    except (crypto.JwsInvalid, crypto.KeyInvalid) as exc:
        raise InvalidDeviceTokenError(f"The device token is not valid: {exc}.") from exc
    now = int(time.time())
    iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
    if not _is_int(iat) or not _is_int(exp):
        raise InvalidDeviceTokenError("iat and exp must be integers.")
    assert isinstance(iat, int) and isinstance(exp, int)
    if exp <= now:
        raise InvalidDeviceTokenError("The device token has expired.")
    if exp - iat > app_settings.TOKEN_MAX_LIFETIME or exp < iat:
        raise InvalidDeviceTokenError("The device token lives too long (exp - iat > 300).")
    if iat > now + app_settings.TOKEN_MAX_FUTURE_SKEW:
        raise InvalidDeviceTokenError("The device token's iat is in the future.")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
        raise InvalidDeviceTokenError("jti must be a string of 16 to 64 characters.")
    if claims.get("htm") != method.upper() or claims.get("htu") != path:
        raise InvalidDeviceTokenError("htm/htu do not match this request.")
    if not _remember_jti(device.id, jti, exp, now):
        raise InvalidDeviceTokenError("The device token was already used.")
    current = timezone.now()
    if device.last_used_at is None or (current - device.last_used_at).total_seconds() > app_settings.LAST_USED_RESOLUTION:
        Device.objects.filter(id=device.id).update(last_used_at=current)
        device.last_used_at = current
    return device


def device_token_from_header(value: str | None) -> str:
    if not value:
        raise InvalidDeviceTokenError("Send Authorization: Device <device token>.")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "device" or not token.strip():
        raise InvalidDeviceTokenError("Send Authorization: Device <device token>.")
    return token.strip()


class DeviceTokenAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Device <token>`; request.user becomes the Device."""

    def authenticate(self, request: Request) -> tuple[Device, None]:
        token = device_token_from_header(request.META.get("HTTP_AUTHORIZATION"))
        return device_token_authenticate(token, method=request.method or "GET", path=request.path), None

    def authenticate_header(self, request: Request) -> str:
        return "Device"
