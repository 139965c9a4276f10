"""Writes to the audit log. Call `audit_append` inside the transaction of the change it records."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry, AuditHead

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


def _append(*, action: str, object_type: str, object_id: Any, actor: str, data: dict[str, Any] | None) -> AuditEntry:
    try:
        head = AuditHead.objects.select_for_update().get(id=1)
    except AuditHead.DoesNotExist:
        AuditHead.objects.get_or_create(id=1)
        head = AuditHead.objects.select_for_update().get(id=1)
    payload = json.loads(json.dumps(data or {}, default=str))
    seq = head.seq + 1
    created_at = timezone.now()
    digest = entry_hash(
        seq=seq,
        created_at=format_time(created_at),
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=str(object_id),
        data=payload,
        prev_hash=head.hash,
    )
    entry = AuditEntry.objects.create(
        seq=seq,
        created_at=created_at,
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=str(object_id),
        data=payload,
        prev_hash=head.hash,
        hash=digest,
    )
    AuditHead.objects.filter(id=1).update(seq=seq, hash=digest)  # the row this transaction has locked
    return entry
