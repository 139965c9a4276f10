"""Move the existing log onto the keyed chain: check the old SHA-256 chain, then give every entry its
MAC and a seal at its old position. A log whose old chain is broken is not blessed with a key: the
migration stops and says where (restore the log, or move it aside, before migrating)."""

import hashlib
import json

from django.db import migrations

from audit.chain import GENESIS_HASH, entry_mac, link_hash


def _old_hash(entry):
    canonical = json.dumps(
        {
            "seq": entry.seq,
            "created_at": entry.created_at.isoformat(timespec="microseconds"),
            "action": entry.action,
            "actor": entry.actor,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "data": entry.data,
            "prev_hash": entry.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    AuditEntry = apps.get_model("audit", "AuditEntry")
    AuditSeal = apps.get_model("audit", "AuditSeal")
    AuditHead = apps.get_model("audit", "AuditHead")
    if connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            horizon = cursor.fetchone()[0]
    else:
        horizon = 0
    old_prev, old_seq = GENESIS_HASH, 0
    prev_hash, seals = GENESIS_HASH, []
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        old_seq += 1
        if entry.seq != old_seq or entry.prev_hash != old_prev or entry.hash != _old_hash(entry):
            raise RuntimeError(
                f"audit entry {old_seq} does not verify under the old chain; run verify_audit_log on the previous "
                "release and restore the log before migrating"
            )
        old_prev = entry.hash
        entry.mac = entry_mac(
            created_at=entry.created_at,
            action=entry.action,
            actor=entry.actor,
            object_type=entry.object_type,
            object_id=entry.object_id,
            data=entry.data,
        )
        entry.save(update_fields=["mac"])
        prev_hash = link_hash(prev_hash=prev_hash, seq=entry.seq, entry_id=entry.pk, mac=entry.mac)
        seals.append(AuditSeal(seq=entry.seq, entry_id=entry.pk, hash=prev_hash, horizon=horizon, sealed_at=entry.created_at))
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.seq != old_seq or head.hash != old_prev):
        raise RuntimeError(f"audit entries after {old_seq} were removed under the old chain; restore the log before migrating")
    AuditSeal.objects.bulk_create(seals, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_seals_and_checkpoints")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
