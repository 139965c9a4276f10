"""Drop the old chain's columns and its head row; on PostgreSQL make the three audit tables insert-only
in the database itself: row triggers refuse UPDATE and DELETE, statement triggers refuse TRUNCATE.

The triggers stop the application's own role even where it owns the tables (a development setup). In
production the runtime role does not own them (grant_runtime_role, docs/deployment.md), so it can
neither disable the triggers nor has the privileges they back up. A superuser can do anything;
verify_audit_log and the published checkpoints reveal what that changed. SQLite has no roles and no
TRUNCATE; there the keyed chain and the checkpoints are the protection."""

from django.db import migrations

TABLES = ("audit_auditentry", "audit_auditseal", "audit_auditcheckpoint")

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (%% on %% refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_no_truncate ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_seal_existing_entries")]

    operations = [
        migrations.RemoveField(model_name="auditentry", name="seq"),
        migrations.RemoveField(model_name="auditentry", name="prev_hash"),
        migrations.RemoveField(model_name="auditentry", name="hash"),
        migrations.DeleteModel(name="AuditHead"),
        migrations.RunPython(forwards, backwards),
    ]
