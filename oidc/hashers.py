"""The hasher of OpenID Connect client secrets (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]).

A client secret is 256 random bits, not a password a person chose: a keyed hash (HMAC-SHA256 under
the server's hashing key, as API keys are stored) protects it as well as Argon2 would, and checking
it costs microseconds instead of the tens of milliseconds a password hash costs on every token
request. It is listed in PASSWORD_HASHERS only so that django-oauth-toolkit's hashed-secret support
(make_password / check_password) can name it; it is never the first, so never used for passwords.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import get_random_string

from nemid_app_backend.secrets import keyed_hash

PURPOSE = "oidc-client-secret"


class ClientSecretHasher(BasePasswordHasher):
    algorithm = "nemid_client_secret"

    def salt(self) -> str:
        return get_random_string(16)

    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("a client secret and a salt without '$' are needed")
        return f"{self.algorithm}${salt}${keyed_hash(PURPOSE, f'{salt}${password}')}"

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, salt, digest = encoded.split("$", 2)
        if algorithm != self.algorithm:
            raise ValueError("not a client secret hash")
        return {"algorithm": algorithm, "salt": salt, "hash": digest}

    def verify(self, password: str, encoded: str) -> bool:
        try:
            decoded = self.decode(encoded)
        except ValueError:
            return False
        expected = keyed_hash(PURPOSE, f"{decoded['salt']}${password}")
        return hmac.compare_digest(expected.encode(), decoded["hash"].encode())

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": mask_hash(decoded["salt"]), "hash": mask_hash(decoded["hash"])}

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None

    def must_update(self, encoded: str) -> bool:
        return False
