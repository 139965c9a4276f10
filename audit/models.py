"""The append-only audit log (docs/contract §7) and its seals.

`AuditEntry` rows are written in the transaction of the change they record, each with a keyed MAC
of its own content (audit.chain): an INSERT and nothing else, so appends take no lock that other
transactions wait for. After commit one sealer (audit.services.audit_seal) links the entries into a
keyed hash chain, one `AuditSeal` per entry giving its position, and now and then writes an
`AuditCheckpoint`: the chain's position and hash, signed with the server's signing key. All three
tables are insert-only: on PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE (migration 0005),
and the runtime database role is granted only INSERT and SELECT on them (grant_runtime_role).
"""

from __future__ import annotations

from typing import Any

from django.db import models


class CurrentTransactionId(models.Expression):
    """The inserting top-level transaction's 64-bit id on PostgreSQL (pg_current_xact_id); NULL on
    other databases. The sealer compares it with the oldest running transaction to know which
    entries can no longer appear (audit.services)."""

    allowed_default = True

    def __init__(self) -> None:
        super().__init__(output_field=models.BigIntegerField())

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        return "NULL", []

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        return "(pg_current_xact_id()::text::bigint)", []


class AuditEntry(models.Model):
    created_at = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=128, blank=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict)
    mac = models.CharField(max_length=64)
    txid = models.BigIntegerField(null=True, editable=False, db_default=CurrentTransactionId())

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["txid", "id"], name="audit_entry_txid_id")]  # the sealer's range scan

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class AuditSeal(models.Model):
    """Entry `entry` is at position `seq` of the chain, whose hash there is `hash`."""

    seq = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(AuditEntry, on_delete=models.DO_NOTHING, related_name="seal")
    hash = models.CharField(max_length=64)
    # PostgreSQL: every transaction below this id had ended when the batch was sealed. SQLite: unused (0).
    horizon = models.BigIntegerField()
    sealed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"audit seal #{self.seq}"


class AuditCheckpoint(models.Model):
    """The chain's hash at position `seq`, as published to auditors; `jws` is its signature by the
    server's signing key (empty when no signer is registered)."""

    seq = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()
    jws = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"audit checkpoint at #{self.seq}"


# The tables the runtime database role may only INSERT into and SELECT from (audit.roles).
INSERT_ONLY_MODELS = (AuditEntry, AuditSeal, AuditCheckpoint)
