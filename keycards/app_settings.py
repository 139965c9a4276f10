"""Key card settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def REISSUE_AT(self) -> int:
        """Codes left on the active card when a new card is issued and queued for printing."""
        return int(getattr(settings, "NEMID_KEY_CARD_REISSUE_AT", 20))

    @property
    def FREE_FAILURES(self) -> int:
        """Consecutive wrong codes before the card's first delay (§9 throttle)."""
        return int(getattr(settings, "NEMID_KEY_CARD_FREE_FAILURES", 3))

    @property
    def DELAY(self) -> int:
        """Seconds of the first delay; each further wrong code doubles it."""
        return int(getattr(settings, "NEMID_KEY_CARD_DELAY", 60))

    @property
    def MAX_DELAY(self) -> int:
        return int(getattr(settings, "NEMID_KEY_CARD_MAX_DELAY", 900))


app_settings = AppSettings()
