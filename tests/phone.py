"""A device as a phone would be: it holds a private key and signs exactly as the app does.

Used by tests to make device tokens, registration proofs and signed decisions.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from devices import crypto


@dataclass
class Phone:
    private_key: crypto.PrivateKey = field(default_factory=crypto.generate_private_key)
    device_id: str | None = None

    @property
    def alg(self) -> str:
        return "EdDSA" if not hasattr(self.private_key, "curve") else "ES256"

    @property
    def public_jwk(self) -> dict[str, str]:
        return crypto.public_jwk_of(self.private_key)

    def registration_proof(self, activation_code: str, *, iat: int | None = None, **header: Any) -> str:
        headers = {"typ": "device-registration+jwt", **header}
        payload = {"activation_code": activation_code, "iat": int(time.time()) if iat is None else iat}
        return crypto.sign_jws(payload, self.private_key, headers=headers)

    def challenge_proof(self, challenge_id: str, *, iat: int | None = None) -> str:
        """The proof of a registration that answers a challenge (docs/contract §9)."""
        payload = {"challenge_id": challenge_id, "iat": int(time.time()) if iat is None else iat}
        return crypto.sign_jws(payload, self.private_key, headers={"typ": "device-registration+jwt"})

    def token(
        self, method: str, path: str, *, lifetime: int = 120, iat: int | None = None, jti: str | None = None, **overrides: Any
    ) -> str:
        now = int(time.time()) if iat is None else iat
        payload = {
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": path,
        }
        payload.update(overrides)
        return crypto.sign_jws(payload, self.private_key, headers={"typ": "device+jwt", "kid": self.device_id})

    def auth(self, method: str, path: str, **kwargs: Any) -> dict[str, str]:
        """Headers for the Django test client."""
        return {"HTTP_AUTHORIZATION": f"Device {self.token(method, path, **kwargs)}"}

    def sign_decision(
        self, view: dict[str, Any], decision: str = "approve", *, verification_code: str | None = None, **overrides: Any
    ) -> str:
        """Sign a decision over a device view of an approval (what the phone showed)."""
        payload: dict[str, Any] = {
            "approval_id": view["id"],
            "nonce": view["nonce"],
            "decision": decision,
            "type": view["type"],
            "rp_name": view["rp_name"],
            "binding_message": view["binding_message"],
            "payment": view["payment"],
            "verification_code": verification_code,
            "iat": int(time.time()),
        }
        payload.update(overrides)
        return crypto.sign_jws(payload, self.private_key, headers={"typ": "approval-decision+jwt", "kid": self.device_id})
