"""Relying-party settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def DEFAULT_ALLOWED_TYPES(self) -> list[str]:
        return list(getattr(settings, "NEMID_RP_DEFAULT_ALLOWED_TYPES", ["login", "payment"]))


app_settings = AppSettings()
