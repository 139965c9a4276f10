"""Demo settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


class AppSettings:
    @property
    def CREDENTIALS_FILE(self) -> Path:
        """Where `seed_demo` keeps the demo's credentials (mode 0600), so that they survive restarts;
        the one place they are kept in clear (the database holds only their hashes)."""
        return Path(settings.NEMID_VAR_DIR) / "demo-credentials.json"


app_settings = AppSettings()
