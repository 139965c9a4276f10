"""Writes to the audit log: appending, in the caller's transaction, and sealing, after commit.

Appending is one INSERT of the entry with the keyed MAC of its content. It takes no lock another
transaction waits for: concurrent state changes commit side by side (docs/decisions/0004).

Sealing (`audit_seal`, run by Celery beat, by the in-process job runner in embedded mode and by
`verify_audit_log`) links the entries that can no longer change into the keyed hash chain. An entry
id is taken when the INSERT runs but becomes visible only at commit, so ids commit out of order and a
sealer that went by id could seal past an entry still to commit. It goes by transaction instead:
  - PostgreSQL: every entry records its transaction's id (`txid`). The sealer reads the oldest
    transaction still running anywhere in the cluster (`pg_snapshot_xmin`), the horizon. Every
    transaction below it has ended, so its entries are all visible now and no more can appear; those
    between the previous horizon and this one are sealed, in (txid, id) order. An entry of a
    transaction still running is at or above the horizon and waits for a later run.
  - SQLite: write transactions run one at a time, so entries commit in id order; the sealer seals
    every entry after the last sealed one.
One sealer runs at a time (an advisory lock on PostgreSQL; SQLite's write lock).
"""

from __future__ import annotations

import datetime
import functools
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.app_settings import app_settings
from audit.chain import canonical_data, entry_mac, link_hash
from audit.hooks import checkpoint_signer
from audit.models import AuditCheckpoint, AuditEntry, AuditSeal
from audit.selectors import audit_last_seal
from nemid_app_backend import db
from nemid_app_backend.metrics import AUDIT_APPEND_SECONDS, soon
from nemid_app_backend.timefmt import rfc3339

# The advisory lock that lets one sealer run at a time (any constant; "nemidaud" in ASCII).
SEAL_LOCK = 0x6E656D6964617564


def audit_append(
    *, action: str, object_type: str, object_id: Any, actor: str = "", data: dict[str, Any] | None = None
) -> AuditEntry:
    """Append one entry, in the caller's transaction if there is one. Never put secrets (CPR, PAN,
    codes, keys) in `data`. One INSERT (nemid_app_backend.db.insert): no lock, no read."""
    started = time.perf_counter()
    try:
        return _append(action=action, object_type=object_type, object_id=object_id, actor=actor, data=data)
    finally:
        soon(functools.partial(AUDIT_APPEND_SECONDS.observe, time.perf_counter() - started))


def _append(*, action: str, object_type: str, object_id: Any, actor: str, data: dict[str, Any] | None) -> AuditEntry:
    entry = AuditEntry(
        created_at=timezone.now(),
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=str(object_id),
        data=canonical_data(data),
    )
    entry.mac = entry_mac(
        created_at=entry.created_at,
        action=entry.action,
        actor=entry.actor,
        object_type=entry.object_type,
        object_id=entry.object_id,
        data=entry.data,
    )
    db.insert(entry)
    return entry


@dataclass
class SealReport:
    sealed: int  # entries sealed by this run
    seq: int  # the chain's length after it
    checkpoint: AuditCheckpoint | None  # written by this run, if one was due


def audit_seal(*, now: datetime.datetime | None = None) -> SealReport:
    """Seal every entry that can no longer change, batch after batch, then write a signed checkpoint
    if one is due. Safe to run from several places at once: the runs take turns."""
    sealed, batch = 0, app_settings.SEAL_BATCH
    while True:
        with transaction.atomic():
            count, seq = _seal_batch(limit=batch, now=now or timezone.now())
        sealed += count
        if count < batch:
            break
    return SealReport(sealed=sealed, seq=seq, checkpoint=_checkpoint_if_due(now=now or timezone.now()))


def _lock_sealing() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
    # SQLite: the transaction already holds the database's one write lock (transaction_mode IMMEDIATE).


def _seal_batch(*, limit: int, now: datetime.datetime) -> tuple[int, int]:
    _lock_sealing()
    seq, prev_hash, prev_horizon, last_entry_id = audit_last_seal()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_current_xact_id_if_assigned()::text::bigint"
            )
            horizon, own = cursor.fetchone()
        horizon = max(horizon, prev_horizon)
        ended = Q(txid__gte=prev_horizon, txid__lt=horizon)
        if own is not None:  # called inside a transaction that appended: its entries commit with their seals
            ended |= Q(txid=own)
        rows = list(
            AuditEntry.objects.filter(ended, seal__isnull=True).order_by("txid", "id").values_list("id", "mac", "txid")[:limit]
        )
        # A batch cut short by the limit has sealed every entry below its last transaction, not below
        # the horizon: the next batch starts from there.
        stored_horizon = min(rows[-1][2], horizon) if len(rows) == limit else horizon
    else:
        rows = list(
            AuditEntry.objects.filter(id__gt=last_entry_id, seal__isnull=True)
            .order_by("id")
            .values_list("id", "mac", "txid")[:limit]
        )
        stored_horizon = 0
    seals = []
    for entry_id, mac, _ in rows:
        seq += 1
        prev_hash = link_hash(prev_hash=prev_hash, seq=seq, entry_id=entry_id, mac=mac)
        seals.append(AuditSeal(seq=seq, entry_id=entry_id, hash=prev_hash, horizon=stored_horizon, sealed_at=now))
    AuditSeal.objects.bulk_create(seals, batch_size=1000)
    return len(seals), seq


def checkpoint_payload(*, seq: int, hash: str, sealed_at: datetime.datetime) -> dict[str, Any]:
    """What a checkpoint's signature covers (docs/contract §7)."""
    return {"iss": settings.NEMID_ISSUER, "seq": seq, "hash": hash, "sealed_at": rfc3339(sealed_at, whole_seconds=True)}


@transaction.atomic
def _checkpoint_if_due(*, now: datetime.datetime) -> AuditCheckpoint | None:
    _lock_sealing()
    seq, chain_hash, _, _ = audit_last_seal()
    if seq == 0:
        return None
    latest = AuditCheckpoint.objects.order_by("-seq").first()
    if latest is not None and (latest.seq >= seq or (now - latest.sealed_at).total_seconds() < app_settings.CHECKPOINT_SECONDS):
        return None
    sealed_at = now.replace(microsecond=0)
    signer = checkpoint_signer()
    jws = signer.sign(checkpoint_payload(seq=seq, hash=chain_hash, sealed_at=sealed_at)) if signer else ""
    return AuditCheckpoint.objects.create(seq=seq, hash=chain_hash, sealed_at=sealed_at, jws=jws)
