"""Writes to the audit log. Call `audit_append` inside the transaction of the change it records."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry, AuditHead
from nemid_app_backend import db

GENESIS_HASH = "0" * 64


def entry_hash(
    *, seq: int, created_at: str, action: str, actor: str, object_type: str, object_id: str, data: Any, prev_hash: str
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "created_at": created_at,
            "action": action,
            "actor": actor,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def format_time(value: Any) -> str:
    return value.isoformat(timespec="microseconds")


def audit_append(
    *, action: str, object_type: str, object_id: Any, actor: str = "", data: dict[str, Any] | None = None
) -> AuditEntry:
    """Append one entry. Never put secrets (CPR, PAN, codes, keys) in `data`.

    Inside the caller's transaction (no savepoint of its own: two statements fewer per change);
    called outside one, it makes its own."""
    with transaction.atomic(savepoint=False):
        return _append(action=action, object_type=object_type, object_id=object_id, actor=actor, data=data)


@functools.cache
def _head_statements(vendor: str) -> tuple[str, str]:
    """(lock head, move head) for this database. Built only from the model's own table name, quoted
    by the backend: no input."""
    head = connection.ops.quote_name(AuditHead._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT seq, hash FROM {head} WHERE id = 1{lock}",  # noqa: S608
        f"UPDATE {head} SET seq = %s, hash = %s WHERE id = 1",  # noqa: S608
    )


def _append(*, action: str, object_type: str, object_id: Any, actor: str, data: dict[str, Any] | None) -> AuditEntry:
    """Lock the head, insert the entry, move the head: three plain statements. Every approval
    change appends here, and the ORM's statement building was half of an append's CPU (measured
    0.93 ms per append with the ORM, 0.48 ms so); the insert is nemid_app_backend.db.insert."""
    lock_head, move_head = _head_statements(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(lock_head)
        row = cursor.fetchone()
        if row is None:  # the very first append
            AuditHead.objects.get_or_create(id=1)
            cursor.execute(lock_head)
            row = cursor.fetchone()
        prev_seq, prev_hash = row
        payload = json.loads(json.dumps(data or {}, default=str))
        entry = AuditEntry(
            seq=prev_seq + 1,
            created_at=timezone.now(),
            action=action,
            actor=actor,
            object_type=object_type,
            object_id=str(object_id),
            data=payload,
            prev_hash=prev_hash,
        )
        entry.hash = entry_hash(
            seq=entry.seq,
            created_at=format_time(entry.created_at),
            action=action,
            actor=actor,
            object_type=object_type,
            object_id=entry.object_id,
            data=payload,
            prev_hash=prev_hash,
        )
        db.insert(entry)
        cursor.execute(move_head, [entry.seq, entry.hash])
    return entry
