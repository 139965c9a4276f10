"""Webhook delivery settings, read live from settings.NEMID_WEBHOOK_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def TIMEOUT(self) -> float:
        """Seconds an endpoint has to answer (docs/contract §5: 10 s)."""
        return float(getattr(settings, "NEMID_WEBHOOK_TIMEOUT", 10.0))

    @property
    def BACKOFF_BASE(self) -> float:
        """Delay after the first failed attempt; it doubles after each further failure."""
        return float(getattr(settings, "NEMID_WEBHOOK_BACKOFF_BASE", 5.0))

    @property
    def BACKOFF_CAP(self) -> float:
        return float(getattr(settings, "NEMID_WEBHOOK_BACKOFF_CAP", 3600.0))

    @property
    def RETRY_PERIOD(self) -> float:
        """Failed deliveries are retried until at least this long after the event was created."""
        return float(getattr(settings, "NEMID_WEBHOOK_RETRY_PERIOD", 24 * 3600.0))

    @property
    def LEASE(self) -> float:
        """How long one worker holds an event while it sends it; longer than any one attempt, so two
        workers never send the same event at the same time. A worker that dies holding a lease only
        delays the event by this much."""
        return float(getattr(settings, "NEMID_WEBHOOK_LEASE", 60.0))

    @property
    def DUE_BATCH(self) -> int:
        return int(getattr(settings, "NEMID_WEBHOOK_DUE_BATCH", 500))


app_settings = AppSettings()
