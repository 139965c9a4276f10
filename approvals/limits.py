"""Prompt limits (docs/contract §7, v1.1): how often approval requests may prompt a citizen's phone;
and, at the end, the caps on concurrent long polls and WebSockets per client.

Push bombing (MFA fatigue): whoever can make requests for a user ID prompts the phone again and
again until the citizen taps "approve" to make it stop. Three limits answer it. They are checked
by the creation service before anything is written, broadcast or pushed, and counted from the
requests themselves, whatever became of them (a cancelled or expired request prompted the phone as
much as a decided one):

- per citizen, across all relying parties: sliding windows, by default at most 10 requests in any
  10 minutes (a burst) and 50 in any 24 hours (a slow drip under the burst limit);
- per relying party, across all citizens: at most N requests in any 60 seconds (default 600; the
  relying party's own `prompt_limit_per_minute` when an operator has set one, 0 = no limit);
- after repeated denials: when the citizen has denied 3 requests within the last hour (and approved
  none since), prompts must be at least 1 minute apart, doubling with every further denial, at most
  an hour apart.

A refusal is 429 `rate_limited` with `Retry-After`: the seconds until the limit lets one more
request through. Refusals are audited (`approval.rate_limited`), the first per rule and subject in
each minute, so that an attacker hammering a limit cannot flood the log.

Exact under concurrency, in both database modes: the citizen's limits are counted while the
creation holds the citizen's row lock; the relying party's under a lock of its row (FOR NO KEY
UPDATE, which does not block the key-share locks that inserts referring to the relying party take),
taken only when a limit applies. On SQLite a write transaction holds the database's write lock,
which serialises creations in the same way. Lock order: citizen, relying party, audit head.
"""

from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass

from django.core.cache import cache

from approvals.app_settings import app_settings
from approvals.models import ApprovalRequest
from audit.services import audit_append
from nemid_app_backend.concurrency import Slots
from nemid_app_backend.db import FixedSelect
from nemid_app_backend.exceptions import ApplicationError, RateLimitedError
from relying_parties.models import RelyingParty

logger = logging.getLogger(__name__)

Status = ApprovalRequest.Status
RELYING_PARTY_WINDOW = 60
AUDIT_EVERY = 60  # seconds: one audit entry per rule and subject in this period

_CITIZEN_RECENT = FixedSelect(ApprovalRequest, where=("citizen", "created_at__gt"), values=("created_at", "status", "decided_at"))


@dataclass(frozen=True)
class PromptRefusal:
    """Why a request may not be made now, and for how long."""

    limit: str  # "citizen" or "relying_party": whose limit was reached (shown to the caller)
    rule: str  # which rule, e.g. "citizen:10/600s", "citizen:denials", "relying_party:600/60s" (audited)
    retry_after: int  # whole seconds, at least 1

    def error(self) -> ApplicationError:
        whose = "this citizen" if self.limit == "citizen" else "this relying party"
        return RateLimitedError(
            f"Too many approval requests for {whose}; try again in {self.retry_after} s.",
            headers={"Retry-After": str(self.retry_after)},
            limit=self.limit,
        )


def _seconds(delta: datetime.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def window_wait(times: list[datetime.datetime], *, count: int, seconds: int, now: datetime.datetime) -> datetime.timedelta | None:
    """How long until one more event fits a sliding window of `count` per `seconds`, or None if it
    fits now. `times` are the earlier events, in ascending order."""
    start = now - datetime.timedelta(seconds=seconds)
    inside = [moment for moment in times if moment > start]
    if len(inside) < count:
        return None
    # The event that must leave the window before one more fits.
    return inside[len(inside) - count] + datetime.timedelta(seconds=seconds) - now


def denial_interval(rows: list[tuple[datetime.datetime, str, datetime.datetime | None]], *, now: datetime.datetime) -> int:
    """Seconds that must separate prompts after repeated denials (0: no slow-down).

    Denials count within PROMPT_DENIAL_WINDOW and after the citizen's last approval: a citizen who
    denied a few wrong requests and then approved the right one is not slowed down."""
    threshold = app_settings.PROMPT_DENIAL_THRESHOLD
    if threshold <= 0:
        return 0
    since = now - datetime.timedelta(seconds=app_settings.PROMPT_DENIAL_WINDOW)
    approvals = [decided for _, status, decided in rows if status == Status.APPROVED and decided is not None]
    if approvals:
        since = max(since, max(approvals))
    denials = sum(1 for _, status, decided in rows if status == Status.DENIED and decided is not None and decided > since)
    if denials < threshold:
        return 0
    interval = app_settings.PROMPT_DENIAL_INTERVAL * 2 ** min(denials - threshold, 32)
    return int(min(interval, app_settings.PROMPT_DENIAL_MAX_INTERVAL))


def _citizen_refusal(*, citizen_id: int, now: datetime.datetime) -> PromptRefusal | None:
    windows = app_settings.PROMPT_LIMITS_PER_CITIZEN
    lookback = max([seconds for _, seconds in windows] + [app_settings.PROMPT_DENIAL_WINDOW + app_settings.MAX_EXPIRES_IN])
    rows = _CITIZEN_RECENT.rows(citizen_id, now - datetime.timedelta(seconds=lookback))
    times = sorted(created for created, _, _ in rows)
    waits: list[tuple[datetime.timedelta, str]] = []
    for count, seconds in windows:
        wait = window_wait(times, count=count, seconds=seconds, now=now)
        if wait is not None:
            waits.append((wait, f"citizen:{count}/{seconds}s"))
    interval = denial_interval(rows, now=now)
    if interval and times:
        wait = times[-1] + datetime.timedelta(seconds=interval) - now
        if wait > datetime.timedelta(0):
            waits.append((wait, "citizen:denials"))
    if not waits:
        return None
    wait, rule = max(waits)
    return PromptRefusal(limit="citizen", rule=rule, retry_after=_seconds(wait))


def _relying_party_limit_applies(relying_party: RelyingParty) -> bool:
    own = relying_party.prompt_limit_per_minute
    return own > 0 if own is not None else app_settings.PROMPT_LIMIT_PER_RP_PER_MINUTE > 0


def _relying_party_refusal(*, relying_party: RelyingParty, now: datetime.datetime) -> PromptRefusal | None:
    # `relying_party` may be a few seconds old (remembered by its API key): whether a limit
    # applies is decided on it; the limit itself is read from the locked row.
    if not _relying_party_limit_applies(relying_party):
        return None
    own = (
        RelyingParty.objects.select_for_update(no_key=True)
        .filter(pk=relying_party.pk)
        .values_list("prompt_limit_per_minute", flat=True)
        .first()
    )
    limit = own if own is not None else app_settings.PROMPT_LIMIT_PER_RP_PER_MINUTE
    if limit <= 0:
        return None
    start = now - datetime.timedelta(seconds=RELYING_PARTY_WINDOW)
    recent = ApprovalRequest.objects.filter(relying_party_id=relying_party.pk, created_at__gt=start)
    count = recent.count()
    if count < limit:
        return None
    leaving = recent.order_by("created_at").values_list("created_at", flat=True)[count - limit]
    wait = leaving + datetime.timedelta(seconds=RELYING_PARTY_WINDOW) - now
    return PromptRefusal(limit="relying_party", rule=f"relying_party:{limit}/{RELYING_PARTY_WINDOW}s", retry_after=_seconds(wait))


def prompt_limits_check(*, citizen_id: int, relying_party: RelyingParty, now: datetime.datetime) -> PromptRefusal | None:
    """The refusal of one more request for this citizen by this relying party now, or None.

    Call inside the creating transaction, holding the citizen's row lock."""
    return _citizen_refusal(citizen_id=citizen_id, now=now) or _relying_party_refusal(relying_party=relying_party, now=now)


def prompt_refusal_record(refusal: PromptRefusal, *, user_id: str, relying_party: RelyingParty, request_type: str) -> None:
    """Audit a refusal (inside a transaction that commits), once per rule and subject per minute."""
    subject = user_id if refusal.limit == "citizen" else relying_party.client_id
    logger.info("prompt refused: %s for %s %s", refusal.rule, refusal.limit, subject)
    try:
        first = cache.add(f"nemid:prompt-refusal:{refusal.rule}:{subject}", 1, timeout=AUDIT_EVERY)
    except Exception:  # cache unreachable: audit every refusal rather than none
        first = True
    if not first:
        return
    audit_append(
        action="approval.rate_limited",
        object_type="citizen" if refusal.limit == "citizen" else "relying_party",
        object_id=subject,
        actor=f"rp:{relying_party.client_id}",
        data={
            "rule": refusal.rule,
            "user_id": user_id,
            "relying_party": relying_party.client_id,
            "type": request_type,
            "retry_after": refusal.retry_after,
        },
    )


# --- caps on concurrent waits (docs/contract §7, v1.1) ---------------------------------------------------
# Long polls and approval WebSockets of one relying party share one budget; device WebSockets have
# one per device. Beyond it: 429 too_many_concurrent_requests (HTTP), or the WebSocket is accepted
# and closed at once with 1008 and the code as its reason, so that the client can tell why.

RELYING_PARTY_WAITS = Slots(
    "rp-waits", lambda: app_settings.MAX_WAITS_PER_RP, what="long polls and WebSockets of this relying party"
)
DEVICE_SOCKETS = Slots("device-sockets", lambda: app_settings.MAX_SOCKETS_PER_DEVICE, what="WebSockets of this device")
