"""Device keys and the JWS they sign. Pure: no ORM, no settings.

Public keys arrive as JWKs: EC P-256 (ES256, required) or OKP Ed25519 (EdDSA). Signatures are
compact JWS with raw r||s ECDSA signatures (RFC 7518 §3.4); a DER-encoded signature is invalid, and
so is a high-S one (s > n/2): for every ECDSA signature (r, s) the pair (r, n - s) verifies too, so
accepting both would let anyone turn one signed decision into a second, different-looking one.
Only the low-S form is accepted; `low_s` gives a signer that form (any signer can normalise its
own signature, no key needed).
Library exceptions are turned into `KeyInvalid` / `JwsInvalid` here and never leave the module.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


# The order n of the P-256 group (FIPS 186-4 D.1.2.3); a low-S signature has s <= n // 2.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER // 2

_PYJWS = jwt.PyJWS()  # stateless once made; making one per call set up every algorithm each time


class KeyInvalid(ValueError):
    pass


class JwsInvalid(ValueError):
    pass


def b64url_decode(value: str) -> bytes:
    if not isinstance(value, str) or not value or "=" in value:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class DeviceKey:
    key: PublicKey
    alg: str  # "ES256" or "EdDSA"
    jwk: dict[str, str]  # public members only, canonical
    thumbprint: str  # RFC 7638, base64url SHA-256


def _thumbprint(required: dict[str, str]) -> str:
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


# Ed25519 (RFC 8032): the curve -x^2 + y^2 = 1 + d x^2 y^2 over GF(2^255 - 19).
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _ed25519_is_weak(encoded: bytes) -> bool:
    """True for an encoding that is not canonical, not on the curve, or a point of small order.

    OpenSSL accepts small-order public keys, and under such a key the signature R = identity,
    S = 0 verifies for every message: anyone knowing the device id could sign as the device."""
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    sign = encoded[31] >> 7
    if y >= _P:
        return True
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P or (x == 0 and sign):
        return True
    if x & 1 != sign:
        x = _P - x
    for _ in range(3):  # 8 * point: the identity (0, 1) exactly when the order divides 8
        xy = x * y % _P
        denominator = _D * xy * xy % _P
        x, y = (
            2 * xy * pow(1 + denominator, _P - 2, _P) % _P,
            (y * y + x * x) * pow(1 - denominator, _P - 2, _P) % _P,
        )
    return (x, y) == (0, 1)


def load_public_jwk(jwk: Any) -> DeviceKey:
    """Validate a public JWK and return the key. Raises KeyInvalid with a reason.

    A valid key is remembered (by its members, which are all that define it): every device request
    loads its device's key, and building and checking the curve point each time was measurable."""
    if not isinstance(jwk, dict):
        raise KeyInvalid("public_key must be a JWK object")
    if "d" in jwk:
        raise KeyInvalid("public_key must not contain the private member d")
    members = (jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y"))
    if all(isinstance(member, str | None) for member in members):
        return _load_public_key(*members)
    return _load_public_key_uncached(*members)


@functools.lru_cache(maxsize=4096)
def _load_public_key(kty: Any, crv: Any, x: Any, y: Any) -> DeviceKey:
    return _load_public_key_uncached(kty, crv, x, y)


def _load_public_key_uncached(kty: Any, crv: Any, x_b64: Any, y_b64: Any) -> DeviceKey:
    if kty == "EC":
        if crv != "P-256":
            raise KeyInvalid("EC keys must be on curve P-256")
        try:
            x = b64url_decode(x_b64)
            y = b64url_decode(y_b64)
        except ValueError as exc:
            raise KeyInvalid("x and y must be base64url strings") from exc
        if len(x) != 32 or len(y) != 32:
            raise KeyInvalid("x and y must be 32 bytes each")
        try:
            key: PublicKey = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        except ValueError as exc:
            raise KeyInvalid("the point is not on curve P-256") from exc
        canonical = {"crv": "P-256", "kty": "EC", "x": x_b64, "y": y_b64}
        return DeviceKey(key, "ES256", canonical, _thumbprint(canonical))
    if kty == "OKP":
        if crv != "Ed25519":
            raise KeyInvalid("OKP keys must be Ed25519")
        try:
            x = b64url_decode(x_b64)
        except ValueError as exc:
            raise KeyInvalid("x must be a base64url string") from exc
        if len(x) != 32:
            raise KeyInvalid("x must be 32 bytes")
        if _ed25519_is_weak(x):
            raise KeyInvalid("x is not a point of prime order on Ed25519 (a small-order key verifies forged signatures)")
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(x)
        except ValueError as exc:
            raise KeyInvalid("x is not an Ed25519 public key") from exc
        canonical = {"crv": "Ed25519", "kty": "OKP", "x": x_b64}
        return DeviceKey(key, "EdDSA", canonical, _thumbprint(canonical))
    raise KeyInvalid("kty must be EC (P-256) or OKP (Ed25519)")


def unverified_header(token: Any) -> dict[str, Any]:
    """The protected header of a compact JWS, parsed but not trusted."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16384:
        raise JwsInvalid("not a compact JWS")
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply to decode
        raise JwsInvalid("the header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JwsInvalid("the header is not a JSON object")
    return header


def _is_high_s(token: str) -> bool:
    """True for a 64-byte r||s signature whose s is above n/2. Other lengths are left to the
    verifier, which rejects them."""
    try:
        signature = b64url_decode(token.rsplit(".", 1)[1])
    except ValueError:
        return False
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_HALF_ORDER


def low_s(signature: bytes) -> bytes:
    """The low-S form of a raw r||s P-256 signature: (r, n - s) when s > n/2, else unchanged."""
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    if s > P256_HALF_ORDER:
        s = P256_ORDER - s
    return r + s.to_bytes(32, "big")


def verify_jws(token: Any, key: DeviceKey, *, typ: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS made by `key` with header typ `typ`; return (header, payload)."""
    header = unverified_header(token)
    if header.get("alg") != key.alg:
        raise JwsInvalid(f"alg must be {key.alg}")
    if header.get("typ") != typ:
        raise JwsInvalid(f"typ must be {typ}")
    if "crit" in header or "b64" in header:
        raise JwsInvalid("unsupported header parameters")
    if key.alg == "ES256" and _is_high_s(token):
        raise JwsInvalid("the signature is not valid")  # the same answer as any other bad signature
    try:
        decoded = _PYJWS.decode_complete(token, key=key.key, algorithms=[key.alg])
    except jwt.PyJWTError as exc:
        raise JwsInvalid("the signature is not valid") from exc
    try:
        payload = json.loads(decoded["payload"])
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply to decode
        raise JwsInvalid("the payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise JwsInvalid("the payload is not a JSON object")
    return header, payload


# --- signing, as a phone does it: used by the reference device client, the demo and tests ---


def generate_private_key(alg: str = "ES256") -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk_of(private_key: PrivateKey) -> dict[str, str]:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization

        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    numbers = private_key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def sign_jws(payload: dict[str, Any], private_key: PrivateKey, *, headers: dict[str, Any]) -> str:
    alg = "EdDSA" if isinstance(private_key, ed25519.Ed25519PrivateKey) else "ES256"
    token = _PYJWS.encode(json.dumps(payload, separators=(",", ":")).encode(), private_key, algorithm=alg, headers=headers)
    if alg != "ES256":
        return token
    signing_input, signature = token.rsplit(".", 1)
    return f"{signing_input}.{b64url_encode(low_s(b64url_decode(signature)))}"
