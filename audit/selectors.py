"""Reads of the audit log: the published checkpoints, and verification of the whole chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q

from audit.chain import GENESIS_HASH, entry_mac, link_hash
from audit.hooks import CheckpointSignatureError, checkpoint_signer
from audit.models import AuditCheckpoint, AuditEntry, AuditSeal

_CHUNK = 2000


@dataclass
class ChainReport:
    entries: int  # sealed entries verified before the first break (all of them when ok)
    ok: bool
    broken_seq: int | None = None  # chain position of the first broken entry
    reason: str = ""
    entry_id: int | None = None  # the entry's id, when the break is at a known entry
    checkpoints: int = 0  # checkpoints the chain was compared with (the log's own and the given ones)


class CheckpointDocumentError(ValueError):
    """A checkpoint file an auditor kept cannot be read, or a signature in it does not verify."""


def audit_last_seal() -> tuple[int, str, int, int]:
    """(seq, hash, horizon, entry id) of the chain's last link; (0, genesis, 0, 0) when it is empty."""
    row = AuditSeal.objects.order_by("-seq").values_list("seq", "hash", "horizon", "entry_id").first()
    return row if row is not None else (0, GENESIS_HASH, 0, 0)


def audit_checkpoints(*, after: int = 0, limit: int = 100) -> list[AuditCheckpoint]:
    """Checkpoints past chain position `after`, oldest first."""
    return list(AuditCheckpoint.objects.filter(seq__gt=after).order_by("seq")[:limit])


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-seq").first()


def checkpoints_from_document(text: str) -> dict[int, str]:
    """{seq: hash} from what an auditor kept: the JSON of GET /api/v1/audit/checkpoints, a list of its
    checkpoint objects, one such object, or JSON Lines of them. A checkpoint with a `jws` counts by its
    signed payload, which must verify with the server's keys; one without counts by its fields."""
    try:
        stripped = text.strip()
        try:
            documents = [json.loads(stripped)]
        except json.JSONDecodeError:
            documents = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise CheckpointDocumentError(f"not JSON or JSON Lines: {exc}") from exc
    items: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and "checkpoints" in document:
            items.extend(document["checkpoints"] or [])
            if document.get("latest"):
                items.append(document["latest"])
        elif isinstance(document, list):
            items.extend(document)
        else:
            items.append(document)
    found: dict[int, str] = {}
    for item in items:
        seq, chain_hash = _checkpoint_item(item)
        if found.get(seq, chain_hash) != chain_hash:
            raise CheckpointDocumentError(f"two different hashes for position {seq}")
        found[seq] = chain_hash
    if not found:
        raise CheckpointDocumentError("no checkpoints in the file")
    return found


def _checkpoint_item(item: Any) -> tuple[int, str]:
    if isinstance(item, str):
        item = {"jws": item}
    if not isinstance(item, dict):
        raise CheckpointDocumentError("a checkpoint is an object with seq and hash, or with jws")
    fields = item
    signer = checkpoint_signer()
    if item.get("jws") and signer is not None:
        try:
            fields = signer.verify(str(item["jws"]))
        except CheckpointSignatureError as exc:
            raise CheckpointDocumentError(f"checkpoint {item.get('seq', '?')}: {exc}") from exc
        if any(key in item and item[key] != fields.get(key) for key in ("seq", "hash")):
            raise CheckpointDocumentError(f"checkpoint {item.get('seq')}: its fields differ from what its signature covers")
    seq, chain_hash = fields.get("seq"), fields.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(chain_hash, str) or len(chain_hash) != 64:
        raise CheckpointDocumentError("a checkpoint needs a positive integer seq and a 64-character hash")
    return seq, chain_hash


def _seals() -> Iterator[tuple[tuple[int, int, str], AuditEntry | None]]:
    """Every link of the chain in order, with its entry (None when the entry is gone)."""
    after = 0
    while True:
        chunk = list(AuditSeal.objects.filter(seq__gt=after).order_by("seq").values_list("seq", "entry_id", "hash")[:_CHUNK])
        if not chunk:
            return
        entries = AuditEntry.objects.in_bulk([entry_id for _, entry_id, _ in chunk])
        for link in chunk:
            yield link, entries.get(link[1])
        after = chunk[-1][0]


def audit_chain_verify(*, checkpoints: dict[int, str] | None = None) -> ChainReport:
    """Walk the chain in order and report the first entry that was edited, removed, inserted or
    re-chained; compare it with the log's own signed checkpoints and with `checkpoints` ({seq: hash},
    kept by an auditor); find entries that were never sealed. Seal first (audit_seal): entries not
    yet sealable are not part of the check."""
    own: dict[int, str] = dict(AuditCheckpoint.objects.values_list("seq", "hash"))
    given = checkpoints or {}
    compared = len(own) + len(given)
    prev_hash, expected, last_anchor = GENESIS_HASH, 1, 0

    def broken(seq: int | None, reason: str, entry_id: int | None = None) -> ChainReport:
        return ChainReport(expected - 1, False, seq, reason, entry_id, compared)

    for (seq, entry_id, chain_hash), entry in _seals():
        if seq != expected:
            return broken(expected, f"sealed entry {expected} is missing")
        if entry is None:
            return broken(seq, f"entry {seq} (id {entry_id}) is missing", entry_id)
        mac = entry_mac(
            created_at=entry.created_at,
            action=entry.action,
            actor=entry.actor,
            object_type=entry.object_type,
            object_id=entry.object_id,
            data=entry.data,
        )
        if entry.mac != mac:
            return broken(seq, "content does not match its MAC", entry_id)
        if chain_hash != link_hash(prev_hash=prev_hash, seq=seq, entry_id=entry_id, mac=entry.mac):
            return broken(seq, "chain hash does not match the previous link", entry_id)
        for anchors, whose in ((own, "the log's own checkpoint"), (given, "the given checkpoint")):
            if seq in anchors and anchors[seq] != chain_hash:
                return broken(last_anchor + 1, f"the chain differs from {whose} at {seq}")
        if seq in own or seq in given:
            last_anchor = seq
        prev_hash, expected = chain_hash, expected + 1
    count = expected - 1
    covered = max([*own, *given], default=0)
    if covered > count:
        return ChainReport(
            count,
            False,
            count + 1,
            f"entries {count + 1} to {covered} were removed (a checkpoint covers {covered})",
            None,
            compared,
        )
    unsealed = _unsealed_entry()
    if unsealed is not None:
        return ChainReport(count, False, None, f"entry id {unsealed} is in the log but was never sealed", unsealed, compared)
    bad = _badly_signed_checkpoint()
    if bad is not None:
        return ChainReport(count, False, bad, f"the checkpoint at {bad} has no valid signature", None, compared)
    return ChainReport(count, True, checkpoints=compared)


def _unsealed_entry() -> int | None:
    """An entry the sealer has passed without sealing it: put in with a forged transaction id, or its
    seal removed. (Entries of transactions still running are above the horizon and not counted.)"""
    seq, _, horizon, last_entry_id = audit_last_seal()
    if seq == 0:
        return None
    unsealed = AuditEntry.objects.filter(seal__isnull=True)
    if connection.vendor == "postgresql":
        unsealed = unsealed.filter(Q(txid__isnull=True) | Q(txid__lt=horizon))
    else:
        unsealed = unsealed.filter(id__lt=last_entry_id)
    return unsealed.order_by("id").values_list("id", flat=True).first()


def _badly_signed_checkpoint() -> int | None:
    signer = checkpoint_signer()
    for checkpoint in AuditCheckpoint.objects.order_by("seq").iterator(chunk_size=_CHUNK):
        if not checkpoint.jws:
            if signer is not None:
                return checkpoint.seq
            continue
        if signer is None:
            continue
        try:
            payload = signer.verify(checkpoint.jws)
        except CheckpointSignatureError:
            return checkpoint.seq
        if payload.get("seq") != checkpoint.seq or payload.get("hash") != checkpoint.hash:
            return checkpoint.seq
    return None
