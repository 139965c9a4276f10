"""What the reference's WSGI and ASGI halves share: configuration, the schema, the channel names and
the decision's signature check."""

from __future__ import annotations

import base64
import functools
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

DATABASE_URL = os.environ.get("REFERENCE_DATABASE_URL", "")
REDIS_URL = os.environ.get("REFERENCE_REDIS_URL", "")
POOL_SIZE = int(os.environ.get("REFERENCE_POOL_SIZE", "4"))

SCHEMA = """
CREATE TABLE device (
    id text PRIMARY KEY,
    user_id text NOT NULL UNIQUE,
    public_key bytea NOT NULL
);
CREATE TABLE approval (
    id uuid PRIMARY KEY,
    device_id text NOT NULL REFERENCES device (id),
    status text NOT NULL,
    nonce text NOT NULL,
    kind text NOT NULL,
    binding_message text NOT NULL,
    payment jsonb,
    verification_code text,
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz
);
CREATE INDEX approval_device ON approval (device_id);
"""

RP_NAME = "Bench Webshop ApS"


def device_view(approval_id: str, body: dict[str, Any], payment: Any, nonce: str, code: str | None) -> dict[str, Any]:
    """The request as `approval.created` shows it to the phone (the product's device view)."""
    return {
        "id": approval_id,
        "type": body["type"],
        "rp_name": RP_NAME,
        "binding_message": body["binding_message"],
        "payment": payment,
        "nonce": nonce,
        "verification_code_required": code is not None,
    }


FINAL = frozenset({"approved", "denied"})


def device_channel(device_id: str) -> str:
    return f"ref:device:{device_id}"


def approval_channel(approval_id: str) -> str:
    return f"ref:approval:{approval_id}"


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jws_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified (the device socket takes its `kid` as the device id)."""
    return dict(json.loads(b64decode(token.split(".", 1)[0])))


@functools.lru_cache(maxsize=100_000)
def public_key(point: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def verify_es256(token: str, point: bytes) -> dict[str, Any] | None:
    """The payload of an ES256 compact JWS if its signature verifies with the P-256 key `point`, else None."""
    try:
        header, payload, signature = token.split(".")
        raw = b64decode(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public_key(point).verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        return dict(json.loads(b64decode(payload)))
    except Exception:  # a malformed token or a bad signature: not verified
        return None
