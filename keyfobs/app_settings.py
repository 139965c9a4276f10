"""Key fob settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def DRIFT_STEPS(self) -> int:
        """Time steps accepted either side of the fob's remembered drift (RFC 6238 §5.2)."""
        return int(getattr(settings, "NEMID_KEY_FOB_DRIFT_STEPS", 1))

    @property
    def MAX_REMEMBERED_DRIFT(self) -> int:
        """The largest clock drift, in steps, remembered for a fob (RFC 6238 §6 resynchronisation)."""
        return int(getattr(settings, "NEMID_KEY_FOB_MAX_REMEMBERED_DRIFT", 10))

    @property
    def FREE_FAILURES(self) -> int:
        """Wrong codes in a row after which the fob is blocked for a while."""
        return int(getattr(settings, "NEMID_KEY_FOB_FREE_FAILURES", 3))

    @property
    def DELAY(self) -> int:
        """Seconds a fob is blocked after FREE_FAILURES wrong codes in a row; doubling after each further one."""
        return int(getattr(settings, "NEMID_KEY_FOB_DELAY", 60))

    @property
    def MAX_DELAY(self) -> int:
        return int(getattr(settings, "NEMID_KEY_FOB_MAX_DELAY", 900))

    @property
    def MAX_IMPORT_BYTES(self) -> int:
        return int(getattr(settings, "NEMID_KEY_FOB_MAX_IMPORT_BYTES", 10 * 1024 * 1024))


app_settings = AppSettings()
