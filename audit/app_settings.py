"""Settings of the audit log, read live from django.conf.settings."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def CHECKPOINT_SECONDS(self) -> float:
        """At most one signed checkpoint per this many seconds (when there is something new to sign)."""
        return float(getattr(settings, "NEMID_AUDIT_CHECKPOINT_SECONDS", 60))

    @property
    def SEAL_BATCH(self) -> int:
        """Entries sealed per transaction; a run seals batch after batch until it has caught up."""
        return int(getattr(settings, "NEMID_AUDIT_SEAL_BATCH", 5000))


app_settings = AppSettings()
