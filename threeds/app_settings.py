"""3-D Secure settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from approvals.app_settings import app_settings as approvals_settings


class AppSettings:
    @property
    def ISSUER_3DS_KEY(self) -> bytes:
        """The key of authentication values: NEMID_ISSUER_3DS_SECRET, or derived from SECRET_KEY when empty."""
        secret = str(getattr(settings, "NEMID_ISSUER_3DS_SECRET", "") or "")
        if secret:
            return secret.encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nemid 3ds authentication value").derive(
            settings.SECRET_KEY.encode()
        )

    @property
    def MIN_EXPIRES_IN(self) -> int:
        """Floor of threeDSRequestorDecMaxTime, in seconds: the approval engine's (docs/contract §5: 30)."""
        return approvals_settings.MIN_EXPIRES_IN

    @property
    def MAX_EXPIRES_IN(self) -> int:
        """Cap of threeDSRequestorDecMaxTime, in seconds: the approval engine's (docs/contract §5: 600)."""
        return approvals_settings.MAX_EXPIRES_IN

    @property
    def MESSAGE_VERSIONS(self) -> tuple[str, ...]:
        return tuple(getattr(settings, "NEMID_3DS_MESSAGE_VERSIONS", ("2.2.0", "2.3.1")))


app_settings = AppSettings()
