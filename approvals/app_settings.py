"""Approval-engine settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    @property
    def MAX_PENDING_PER_CITIZEN(self) -> int:
        """Pending, unexpired requests a citizen may have at once (docs/contract §5: 3)."""
        return int(getattr(settings, "NEMID_MAX_PENDING_APPROVALS", 3))

    @property
    def DEFAULT_EXPIRES_IN(self) -> dict[str, int]:
        return {"login": 120, "payment": 300}

    @property
    def MIN_EXPIRES_IN(self) -> int:
        return 30

    @property
    def MAX_EXPIRES_IN(self) -> int:
        return 600

    @property
    def IDEMPOTENCY_TTL(self) -> int:
        """Seconds an Idempotency-Key is remembered (docs/contract §5: 24 h)."""
        return int(getattr(settings, "NEMID_IDEMPOTENCY_TTL", 24 * 3600))

    @property
    def RESULT_TOKEN_LIFETIME(self) -> int:
        """Seconds from a result token's `iat` to its `exp`. A day by default: as long as a webhook
        carrying the token is retried (NEMID_WEBHOOK_RETRY_PERIOD), so the last retry still carries a
        token the relying party accepts; the relying party keeps `jti`s to accept each token once."""
        return int(getattr(settings, "NEMID_RESULT_TOKEN_LIFETIME", 24 * 3600))

    @property
    def DECISION_MAX_AGE(self) -> int:
        """A signed decision's iat must be within this many seconds of now (docs/contract §6 check 6)."""
        return int(getattr(settings, "NEMID_DECISION_MAX_AGE", 300))

    @property
    def EXPIRY_BATCH_SIZE(self) -> int:
        return int(getattr(settings, "NEMID_EXPIRY_BATCH_SIZE", 200))

    @property
    def LONG_POLL_MAX_WAIT(self) -> int:
        return 30

    @property
    def LONG_POLL_RECHECK_INTERVAL(self) -> float:
        """Seconds between re-reads of the row while long polling (the fallback when no event arrives)."""
        return float(getattr(settings, "NEMID_LONG_POLL_RECHECK_INTERVAL", 1.0))

    # --- prompt limits (docs/contract §7, v1.1; approvals.limits) ---

    @property
    def PROMPT_LIMITS_PER_CITIZEN(self) -> list[tuple[int, int]]:
        """(requests, seconds): at most `requests` approval requests for one citizen, across all
        relying parties, in any `seconds`. Default 10 in 10 minutes and 50 in 24 hours."""
        limits = getattr(settings, "NEMID_PROMPT_LIMITS_PER_CITIZEN", ((10, 600), (50, 86400)))
        return [(int(count), int(seconds)) for count, seconds in limits if int(count) > 0 and int(seconds) > 0]

    @property
    def PROMPT_LIMIT_PER_RP_PER_MINUTE(self) -> int:
        """Approval requests one relying party may make in any 60 seconds, across all citizens,
        unless the relying party has its own value (RelyingParty.prompt_limit_per_minute). 0: no limit."""
        return max(0, int(getattr(settings, "NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE", 600)))

    @property
    def PROMPT_DENIAL_THRESHOLD(self) -> int:
        """Denials within PROMPT_DENIAL_WINDOW (since the citizen's last approval) that slow prompts down. 0: never."""
        return max(0, int(getattr(settings, "NEMID_PROMPT_DENIAL_THRESHOLD", 3)))

    @property
    def PROMPT_DENIAL_WINDOW(self) -> int:
        return int(getattr(settings, "NEMID_PROMPT_DENIAL_WINDOW", 3600))

    @property
    def PROMPT_DENIAL_INTERVAL(self) -> int:
        """Seconds between prompts at the threshold; doubled by each further denial."""
        return int(getattr(settings, "NEMID_PROMPT_DENIAL_INTERVAL", 60))

    @property
    def PROMPT_DENIAL_MAX_INTERVAL(self) -> int:
        return int(getattr(settings, "NEMID_PROMPT_DENIAL_MAX_INTERVAL", 3600))

    # --- caps on concurrent work per client (nemid_app_backend.concurrency) ---

    @property
    def MAX_WAITS_PER_RP(self) -> int:
        """Long polls (GET ?wait=N) and approval WebSockets one relying party holds open at once,
        together. 0: no cap."""
        return int(getattr(settings, "NEMID_MAX_WAITS_PER_RP", 1000))

    @property
    def MAX_SOCKETS_PER_DEVICE(self) -> int:
        """Device WebSockets one device holds open at once (a reconnect may overlap a socket whose
        loss the server has not noticed yet). 0: no cap."""
        return int(getattr(settings, "NEMID_MAX_SOCKETS_PER_DEVICE", 5))


app_settings = AppSettings()
