"""Reads of the audit log, including verification of the whole chain."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import AuditEntry, AuditHead
from audit.services import GENESIS_HASH, entry_hash, format_time


@dataclass
class ChainReport:
    entries: int
    ok: bool
    broken_seq: int | None = None
    reason: str = ""


def audit_chain_verify() -> ChainReport:
    """Walk the chain in order; report the first entry that was edited, removed or inserted."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        if entry.seq != expected_seq:
            return ChainReport(count, False, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != expected_prev:
            return ChainReport(count, False, entry.seq, "prev_hash does not match the previous entry")
        digest = entry_hash(
            seq=entry.seq,
            created_at=format_time(entry.created_at),
            action=entry.action,
            actor=entry.actor,
            object_type=entry.object_type,
            object_id=entry.object_id,
            data=entry.data,
            prev_hash=entry.prev_hash,
        )
        if digest != entry.hash:
            return ChainReport(count, False, entry.seq, "content does not match its hash")
        expected_prev = entry.hash
        expected_seq += 1
        count += 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return ChainReport(count, False, count + 1, "entries after the last one were removed")
    return ChainReport(count, True)
