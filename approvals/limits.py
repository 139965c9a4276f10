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
import functools
import logging
import math
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, models

from approvals.app_settings import app_settings
from approvals.models import ApprovalRequest
from audit.services import audit_append
from nemid_app_backend.concurrency import Slots
from nemid_app_backend.exceptions import ApplicationError, RateLimitedError
from relying_parties.models import RelyingParty

logger = logging.getLogger(__name__)

Status = ApprovalRequest.Status
RELYING_PARTY_WINDOW = 60
AUDIT_EVERY = 60  # seconds: one audit entry per rule and subject in this period


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


@dataclass(frozen=True)
class _CitizenRecent:
    """What the citizen's limits need of the requests made for the citizen within the lookback
    (`_citizen_recent`), as one row of constant size."""

    newest: datetime.datetime | None  # when the newest request was made
    window_leavers: list[datetime.datetime | None]  # per window (count, seconds): see _citizen_recent
    denials: int  # denied within PROMPT_DENIAL_WINDOW and after the last approval


@functools.cache
def _citizen_recent_sql(vendor: str, windows: int) -> str:
    """The statement of `_citizen_recent` for `windows` sliding windows, written once per backend."""
    quote = connection.ops.quote_name
    table = quote(ApprovalRequest._meta.db_table)
    citizen, created, status, decided = (
        quote(field.column)
        for field in (ApprovalRequest._meta.get_field(name) for name in ("citizen", "created_at", "status", "decided_at"))
        if isinstance(field, models.Field) and field.column
    )
    last_approval = f"(SELECT MAX(A.{decided}) FROM {table} A WHERE A.{citizen} = %s AND A.{created} > %s AND A.{status} = %s)"  # noqa: S608
    denials = (
        f"COUNT(CASE WHEN T0.{status} = %s AND T0.{decided} > %s AND T0.{decided} > COALESCE({last_approval}, %s) THEN 1 END)"
    )
    leaver = f"(SELECT W.{created} FROM {table} W WHERE W.{citizen} = %s AND W.{created} > %s ORDER BY W.{created} DESC LIMIT 1 OFFSET %s)"  # noqa: S608
    columns = ", ".join([f"MAX(T0.{created})", denials, *[leaver] * windows])
    return f"SELECT {columns} FROM {table} T0 WHERE T0.{citizen} = %s AND T0.{created} > %s"  # noqa: S608


def _citizen_recent(
    *, citizen_id: int, since: datetime.datetime, windows: list[tuple[int, int]], now: datetime.datetime
) -> _CitizenRecent:
    """One statement over the citizen's requests made after `since` (the lookback), whatever became
    of them: the newest one's time; for each window (count, seconds), the time of the request that
    must leave it before one more fits (the count-th newest made within the window; None while
    fewer are); and the denials that count for the slow-down, i.e. decided within
    PROMPT_DENIAL_WINDOW and after the latest approval."""
    created_at = ApprovalRequest._meta.get_field("created_at")
    assert isinstance(created_at, models.DateTimeField)

    def moment(value: datetime.datetime) -> Any:
        return created_at.get_db_prep_value(value, connection)

    start = moment(since)
    denials_since = moment(now - datetime.timedelta(seconds=app_settings.PROMPT_DENIAL_WINDOW))
    params: list[Any] = [str(Status.DENIED), denials_since, citizen_id, start, str(Status.APPROVED), denials_since]
    for count, seconds in windows:
        params += [citizen_id, moment(now - datetime.timedelta(seconds=seconds)), count - 1]
    params += [citizen_id, start]
    with connection.cursor() as cursor:
        cursor.execute(_citizen_recent_sql(connection.vendor, len(windows)), params)
        newest, denials, *leavers = cursor.fetchone()
    # The converters the ORM applies to the column (SQLite returns an aggregate's datetime as text).
    column = created_at.get_col("T0")
    converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def converted(value: object) -> datetime.datetime | None:
        for convert in converters:
            value = convert(value, column, connection)
        assert value is None or isinstance(value, datetime.datetime)
        return value

    return _CitizenRecent(
        newest=converted(newest), window_leavers=[converted(leaver) for leaver in leavers], denials=int(denials)
    )


def denial_interval(denials: int) -> int:
    """Seconds that must separate prompts after `denials` recent denials (0: no slow-down).

    Denials count within PROMPT_DENIAL_WINDOW and after the citizen's last approval (`_citizen_recent`):
    a citizen who denied a few wrong requests and then approved the right one is not slowed down."""
    threshold = app_settings.PROMPT_DENIAL_THRESHOLD
    if threshold <= 0 or denials < threshold:
        return 0
    interval = app_settings.PROMPT_DENIAL_INTERVAL * 2 ** min(denials - threshold, 32)
    return int(min(interval, app_settings.PROMPT_DENIAL_MAX_INTERVAL))


def _citizen_refusal(*, citizen_id: int, now: datetime.datetime) -> PromptRefusal | None:
    windows = app_settings.PROMPT_LIMITS_PER_CITIZEN
    lookback = max([seconds for _, seconds in windows] + [app_settings.PROMPT_DENIAL_WINDOW + app_settings.MAX_EXPIRES_IN])
    recent = _citizen_recent(citizen_id=citizen_id, since=now - datetime.timedelta(seconds=lookback), windows=windows, now=now)
    waits: list[tuple[datetime.timedelta, str]] = []
    for (count, seconds), leaver in zip(windows, recent.window_leavers, strict=True):
        if leaver is not None:  # the window is full until this request leaves it
            waits.append((leaver + datetime.timedelta(seconds=seconds) - now, f"citizen:{count}/{seconds}s"))
    interval = denial_interval(recent.denials)
    if interval and recent.newest is not None:
        wait = recent.newest + datetime.timedelta(seconds=interval) - now
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
