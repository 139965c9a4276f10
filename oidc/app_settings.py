"""OpenID provider settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings

from oidc import assurance


class AppSettings:
    @property
    def ISSUER(self) -> str:
        """`iss` of every ID token and `issuer` of discovery (NEMID_ISSUER)."""
        return str(settings.NEMID_ISSUER)

    @property
    def DEFAULT_ACR(self) -> str:
        """The level a login reaches at least when the client sends no acr_values."""
        return str(getattr(settings, "NEMID_OIDC_DEFAULT_ACR", assurance.LOW))

    @property
    def SESSION_MAX_AGE(self) -> int:
        """Seconds a login at the provider serves further clients without asking again (single sign-on)."""
        return int(getattr(settings, "NEMID_OIDC_SESSION_MAX_AGE", 3600))

    @property
    def LOGIN_TRANSACTION_TTL(self) -> int:
        """Seconds the hosted pages give a person to finish one login."""
        return int(getattr(settings, "NEMID_OIDC_LOGIN_TTL", 900))

    @property
    def UNKNOWN_USER_LIMIT(self) -> int:
        """Unknown user IDs one client address may type on the hosted pages per window (oidc.throttle)."""
        return int(getattr(settings, "NEMID_OIDC_UNKNOWN_USER_LIMIT", 10))

    @property
    def UNKNOWN_USER_WINDOW(self) -> int:
        """Seconds of that window."""
        return int(getattr(settings, "NEMID_OIDC_UNKNOWN_USER_WINDOW", 600))

    @property
    def APP_LOGIN_EXPIRES_IN(self) -> int:
        """Seconds the code app has to answer a hosted-page login."""
        return int(getattr(settings, "NEMID_OIDC_APP_LOGIN_EXPIRES_IN", 120))

    @property
    def CIBA_DEFAULT_EXPIRY(self) -> int:
        return int(getattr(settings, "NEMID_CIBA_DEFAULT_EXPIRY", 120))

    @property
    def CIBA_MIN_EXPIRY(self) -> int:
        return 30

    @property
    def CIBA_MAX_EXPIRY(self) -> int:
        return 600

    @property
    def CIBA_INTERVAL(self) -> int:
        """Seconds a poll-mode client waits between token requests (CIBA Core §7.3 `interval`)."""
        return int(getattr(settings, "NEMID_CIBA_INTERVAL", 5))

    @property
    def CIBA_MAX_INTERVAL(self) -> int:
        return 60

    @property
    def NOTIFICATION_TOKEN_MAX(self) -> int:
        return 1024

    @property
    def LANGUAGES(self) -> tuple[str, ...]:
        return ("da", "en")

    @property
    def DEFAULT_LANGUAGE(self) -> str:
        return str(getattr(settings, "NEMID_OIDC_DEFAULT_LANGUAGE", "da"))


app_settings = AppSettings()
