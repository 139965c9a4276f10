"""Server signing keys: creation, rotation, the JWKS, and signing of result tokens."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.hooks import CheckpointSignatureError
from audit.services import audit_append
from nemid_app_backend import secrets
from signing.models import SigningKey

_PURPOSE = "signing-key"
_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk_for(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private_key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    thumbprint = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**jwk, "kid": _b64url(thumbprint), "use": "sig", "alg": "ES256"}


def _pem(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _settings_key() -> tuple[str, ec.EllipticCurvePrivateKey, dict[str, str]] | None:
    pem = settings.NEMID_SIGNING_KEY_PEM
    if not pem:
        return None
    return _load_settings_key(pem)


@functools.lru_cache(maxsize=2)
def _load_settings_key(pem: str) -> tuple[str, ec.EllipticCurvePrivateKey, dict[str, str]]:
    """Parsed once per process: every result token is signed with it."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("NEMID_SIGNING_KEY_PEM must be a P-256 private key")
    jwk = public_jwk_for(key)
    return jwk["kid"], key, jwk


@transaction.atomic
def signing_key_rotate(*, actor: str = "system") -> SigningKey:
    """Make a new current key; the previous ones stay published in the JWKS."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk_for(private_key)
    SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
    key = SigningKey.objects.create(
        kid=jwk["kid"],
        private_key_encrypted=secrets.encrypt(_pem(private_key), purpose=_PURPOSE),
        public_jwk=jwk,
    )
    audit_append(action="signing_key.rotated", object_type="signing_key", object_id=key.kid, actor=actor)
    with _lock:
        _cache.clear()
    return key


def _current() -> tuple[str, ec.EllipticCurvePrivateKey]:
    from_settings = _settings_key()
    if from_settings is not None:
        return from_settings[0], from_settings[1]
    with _lock:
        cached = _cache.get("current")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    key = SigningKey.objects.filter(retired_at__isnull=True).order_by("-created_at").first()
    if key is None:
        key = signing_key_rotate(actor="system:first-start")
    private_key = serialization.load_pem_private_key(secrets.decrypt(key.private_key_encrypted, purpose=_PURPOSE), password=None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    with _lock:
        _cache["current"] = (key.kid, private_key)
    return key.kid, private_key


def signing_key_forget_cache() -> None:
    with _lock:
        _cache.clear()


def jwks() -> dict[str, list[dict[str, str]]]:
    _current()  # make sure a key exists
    keys: list[dict[str, str]] = []
    from_settings = _settings_key()
    if from_settings is not None:
        keys.append(from_settings[2])
    for key in SigningKey.objects.order_by("retired_at", "-created_at"):
        if all(existing["kid"] != key.kid for existing in keys):
            keys.append(dict(key.public_jwk))
    return {"keys": keys}


def sign_jwt(claims: dict[str, Any], *, typ: str = "JWT") -> str:
    kid, private_key = _current()
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid, "typ": typ})


def current_public_jwk() -> dict[str, str]:
    """The public JWK (with its kid) of the key that signs now."""
    _, private_key = _current()
    return public_jwk_for(private_key)


class JwtInvalid(Exception):
    """A token that is not a JWT this service signed with a key in its JWKS (or fails a check)."""


def verify_jwt(token: str, *, audience: str | None = None, require_exp: bool = True) -> dict[str, Any]:
    """The claims of a JWT signed by one of the service's published keys (current or retired),
    found by its kid; `iss` must be the issuer. With `require_exp` False an expired token is still
    accepted (an id_token_hint, OIDC RP-Initiated Logout §2). Raises JwtInvalid."""
    if not isinstance(token, str) or len(token) > 16384:
        raise JwtInvalid("not a token")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise JwtInvalid("malformed") from exc
    published = next((key for key in jwks()["keys"] if key["kid"] == kid), None)
    if published is None:
        raise JwtInvalid("unknown kid")
    options: Any = {"require": ["iss", "iat"], "verify_aud": audience is not None}
    if not require_exp:
        options["verify_exp"] = False
    try:
        return dict(
            jwt.decode(
                token,
                jwt.PyJWK(published).key,
                algorithms=["ES256"],
                audience=audience,
                issuer=settings.NEMID_ISSUER,
                options=options,
            )
        )
    except jwt.PyJWTError as exc:
        raise JwtInvalid(str(exc)) from exc


# --- audit checkpoints (registered with the audit app in SigningConfig.ready) ---

CHECKPOINT_TYP = "audit-checkpoint+jwt"


def _public_jwk(kid: str) -> dict[str, str] | None:
    from_settings = _settings_key()
    if from_settings is not None and from_settings[0] == kid:
        return from_settings[2]
    key = SigningKey.objects.filter(kid=kid).values_list("public_jwk", flat=True).first()
    return dict(key) if key is not None else None


def audit_checkpoint_sign(payload: dict[str, Any]) -> str:
    return sign_jwt(payload, typ=CHECKPOINT_TYP)


def audit_checkpoint_verify(token: str) -> dict[str, Any]:
    """The payload of a checkpoint signed by one of the server's keys (current or retired). Unlike
    verify_jwt it does not hold the checkpoint to today's issuer: a checkpoint kept for years must
    still verify after NEMID_ISSUER changes."""
    try:
        header = jwt.get_unverified_header(token)
        jwk = _public_jwk(str(header.get("kid", "")))
        if jwk is None:
            raise CheckpointSignatureError("signed with a key the server does not have")
        if header.get("typ") != CHECKPOINT_TYP or header.get("alg") != "ES256":
            raise CheckpointSignatureError("not an audit checkpoint")
        payload = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], options={"verify_aud": False})
    except jwt.PyJWTError as exc:
        raise CheckpointSignatureError(f"the signature does not verify ({exc})") from exc
    if not isinstance(payload, dict):
        raise CheckpointSignatureError("the payload is not an object")
    return payload
