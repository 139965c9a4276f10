"""Entries get a keyed MAC and their transaction's id; the chain moves to insert-only seal rows, and
signed checkpoints are kept beside it (docs/decisions/0004)."""

import django.db.models.deletion
from django.db import migrations, models

import audit.models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AlterModelOptions(name="auditentry", options={"verbose_name_plural": "audit entries"}),
        migrations.AddField(model_name="auditentry", name="mac", field=models.CharField(default="", max_length=64), preserve_default=False),
        migrations.AddField(
            model_name="auditentry",
            name="txid",
            field=models.BigIntegerField(db_default=audit.models.CurrentTransactionId(), editable=False, null=True),
        ),
        migrations.AddIndex(model_name="auditentry", index=models.Index(fields=["txid", "id"], name="audit_entry_txid_id")),
        migrations.CreateModel(
            name="AuditSeal",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.CharField(max_length=64)),
                ("horizon", models.BigIntegerField()),
                ("sealed_at", models.DateTimeField()),
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING, related_name="seal", to="audit.auditentry"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.CharField(max_length=64)),
                ("sealed_at", models.DateTimeField()),
                ("jws", models.TextField(blank=True)),
            ],
        ),
    ]
