"""The append-only, hash-chained audit log (docs/contract §7).

Each entry's hash covers its own content and the previous entry's hash, so an edited entry
breaks its own hash and a deleted one breaks the chain. `AuditHead` is a single row holding the
last sequence number and hash: appending locks it, which orders concurrent appends, and it also
reveals a truncated tail.
"""

from django.db import models


class AuditEntry(models.Model):
    seq = models.BigIntegerField(unique=True, db_index=True)
    created_at = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=128, blank=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditHead(models.Model):
    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"
