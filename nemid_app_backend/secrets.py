"""Keyed hashes and encryption at rest for the secrets the service must keep.

CPR numbers, card numbers, API keys and activation codes are stored only as keyed hashes
(HMAC-SHA256 under a server key, with a purpose label so that one value hashed for two purposes
gives two unrelated digests). Secrets the service must use again (webhook secrets, server
signing keys) are encrypted with AES-256-GCM. Both keys come from settings, and are derived
from SECRET_KEY when not given.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    pass


def _derive(material: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material.encode())


@functools.lru_cache(maxsize=8)
def _keys(hmac_material: str, encryption_material: str) -> tuple[bytes, bytes]:
    return _derive(hmac_material, b"nemid hmac key"), _derive(encryption_material, b"nemid encryption key")


def _hmac_key() -> bytes:
    return _keys(settings.NEMID_HMAC_KEY or settings.SECRET_KEY, settings.NEMID_ENCRYPTION_KEY or settings.SECRET_KEY)[0]


def _encryption_key() -> bytes:
    return _keys(settings.NEMID_HMAC_KEY or settings.SECRET_KEY, settings.NEMID_ENCRYPTION_KEY or settings.SECRET_KEY)[1]


def keyed_hash(purpose: str, value: str) -> str:
    """Hex HMAC-SHA256 of `value` for `purpose` (e.g. "cpr", "pan", "api_key")."""
    return hmac.new(_hmac_key(), f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def encrypt(plaintext: bytes, *, purpose: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_encryption_key()).encrypt(nonce, plaintext, purpose.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt(token: str, *, purpose: str) -> bytes:
    try:
        raw = base64.b64decode(token)
        return AESGCM(_encryption_key()).decrypt(raw[:12], raw[12:], purpose.encode())
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("cannot decrypt stored secret") from exc
