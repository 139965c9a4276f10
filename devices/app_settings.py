"""Device settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def MAX_ACTIVE_DEVICES(self) -> int:
        return int(getattr(settings, "NEMID_MAX_ACTIVE_DEVICES", 5))

    @property
    def TOKEN_MAX_LIFETIME(self) -> int:
        return int(getattr(settings, "NEMID_DEVICE_TOKEN_MAX_LIFETIME", 300))

    @property
    def TOKEN_MAX_FUTURE_SKEW(self) -> int:
        return int(getattr(settings, "NEMID_DEVICE_TOKEN_MAX_FUTURE_SKEW", 60))

    @property
    def PROOF_MAX_AGE(self) -> int:
        return int(getattr(settings, "NEMID_REGISTRATION_PROOF_MAX_AGE", 300))

    @property
    def REGISTRATION_FAILURES_PER_ADDRESS(self) -> int:
        """Failed registrations allowed per client address per window before 429."""
        return int(getattr(settings, "NEMID_REGISTRATION_FAILURES_PER_ADDRESS", 10))

    @property
    def REGISTRATION_FAILURES_PER_CODE(self) -> int:
        return int(getattr(settings, "NEMID_REGISTRATION_FAILURES_PER_CODE", 5))

    @property
    def REGISTRATION_FAILURES_PER_CITIZEN(self) -> int:
        """Failed registrations allowed per citizen (whose code was sent, or whose user ID) per window."""
        return int(getattr(settings, "NEMID_REGISTRATION_FAILURES_PER_CITIZEN", 10))

    @property
    def REGISTRATION_FAILURE_WINDOW(self) -> int:
        return int(getattr(settings, "NEMID_REGISTRATION_FAILURE_WINDOW", 3600))

    @property
    def REGISTRATION_BREAKER_FAILURES(self) -> int:
        """Failed registrations across the whole service, within one breaker window, that suspend
        all registrations (far above what honest typing errors of a country produce)."""
        return int(getattr(settings, "NEMID_REGISTRATION_BREAKER_FAILURES", 1000))

    @property
    def REGISTRATION_BREAKER_WINDOW(self) -> int:
        return int(getattr(settings, "NEMID_REGISTRATION_BREAKER_WINDOW", 600))

    @property
    def REGISTRATION_BREAKER_COOLDOWN(self) -> int:
        """Seconds registrations stay suspended once the breaker opens (unless an operator resumes them)."""
        return int(getattr(settings, "NEMID_REGISTRATION_BREAKER_COOLDOWN", 900))

    @property
    def LAST_USED_RESOLUTION(self) -> int:
        """Seconds between writes of last_used_at, so each request does not write the row."""
        return int(getattr(settings, "NEMID_DEVICE_LAST_USED_RESOLUTION", 60))

    @property
    def CHALLENGE_TTL(self) -> int:
        """Seconds a challenge to activate a device without a letter stays answerable (docs/contract §9)."""
        return int(getattr(settings, "NEMID_DEVICE_CHALLENGE_TTL", 300))

    @property
    def CHALLENGES_PER_ADDRESS(self) -> int:
        """Challenges one client address may ask for per REGISTRATION_FAILURE_WINDOW before 429."""
        return int(getattr(settings, "NEMID_DEVICE_CHALLENGES_PER_ADDRESS", 300))


app_settings = AppSettings()
