"""Settings of the core (request path), read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def MAX_REQUEST_BODY(self) -> int:
        """Bytes of request body accepted; more is 413 payload_too_large before authentication (CONTRACT §0: 64 KiB)."""
        return int(getattr(settings, "NEMID_MAX_REQUEST_BODY", 64 * 1024))

    @property
    def METRICS_TOKEN(self) -> str:
        """The bearer token /metrics requires; empty: only loopback peers are answered."""
        return str(getattr(settings, "NEMID_METRICS_TOKEN", ""))


app_settings = AppSettings()
