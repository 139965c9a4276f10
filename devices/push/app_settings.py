"""Push settings, read live from settings.NEMID_* so tests can override them. Credentials are empty
by default, which makes each provider a logging no-op."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def TIMEOUT(self) -> float:
        return float(getattr(settings, "NEMID_PUSH_TIMEOUT", 10.0))

    # FCM HTTP v1
    @property
    def FCM_SERVICE_ACCOUNT_FILE(self) -> str:
        return str(getattr(settings, "NEMID_FCM_SERVICE_ACCOUNT_FILE", ""))

    @property
    def FCM_BASE_URL(self) -> str:
        return str(getattr(settings, "NEMID_FCM_BASE_URL", "https://fcm.googleapis.com")).rstrip("/")

    @property
    def FCM_TOKEN_URL(self) -> str:
        """Empty: the service account's token_uri."""
        return str(getattr(settings, "NEMID_FCM_TOKEN_URL", ""))

    # APNs, token-based
    @property
    def APNS_KEY_FILE(self) -> str:
        return str(getattr(settings, "NEMID_APNS_KEY_FILE", ""))

    @property
    def APNS_KEY_ID(self) -> str:
        return str(getattr(settings, "NEMID_APNS_KEY_ID", ""))

    @property
    def APNS_TEAM_ID(self) -> str:
        return str(getattr(settings, "NEMID_APNS_TEAM_ID", ""))

    @property
    def APNS_TOPIC(self) -> str:
        return str(getattr(settings, "NEMID_APNS_TOPIC", ""))

    @property
    def APNS_BASE_URL(self) -> str:
        configured = str(getattr(settings, "NEMID_APNS_BASE_URL", ""))
        if configured:
            return configured.rstrip("/")
        if getattr(settings, "NEMID_APNS_USE_SANDBOX", False):
            return "https://api.sandbox.push.apple.com"
        return "https://api.push.apple.com"

    # Web Push, VAPID
    @property
    def VAPID_PRIVATE_KEY_FILE(self) -> str:
        return str(getattr(settings, "NEMID_VAPID_PRIVATE_KEY_FILE", ""))

    @property
    def VAPID_SUBJECT(self) -> str:
        return str(getattr(settings, "NEMID_VAPID_SUBJECT", "mailto:operations@nemid-app-backend.local"))


app_settings = AppSettings()
