"""The runtime database role: what the service may do to the database it runs against (PostgreSQL).

Migrations run as the role that owns the tables. The service runs as another role, granted here:
SELECT, INSERT, UPDATE and DELETE on every table of the installed apps, except the audit log's tables
(audit.models.INSERT_ONLY_MODELS), where it gets SELECT and INSERT only; SELECT on django_migrations.
Not owning the tables, it can neither TRUNCATE them nor disable their triggers, and without UPDATE and
DELETE it cannot rewrite a single entry, a seal or a checkpoint. deploy/postgres/roles.sql creates
the two roles; docs/deployment.md says how they are used.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections

from audit.models import INSERT_ONLY_MODELS
from nemid_app_backend.exceptions import InvalidArgumentError

READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"
INSERT_ONLY = "SELECT, INSERT"


def runtime_role_grant(*, role: str, using: str = "default") -> dict[str, Any]:
    """Grant `role` exactly what the running service needs; idempotent (revokes first). Run it as the
    role that migrates, after every `migrate` (the post_migrate hook does so when
    NEMID_DB_RUNTIME_ROLE is set)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise InvalidArgumentError("a runtime role is a PostgreSQL feature; SQLite has no roles")
    insert_only = {model._meta.db_table for model in INSERT_ONLY_MODELS}
    wanted = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, current_user FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            raise InvalidArgumentError(f"there is no role {role!r}: create it first (deploy/postgres/roles.sql)")
        if found[0]:
            raise InvalidArgumentError(f"{role!r} is a superuser, which no privilege or trigger binds")
        if found[1] == role:
            raise InvalidArgumentError("run this as the role that migrates, not as the runtime role")
        existing = set(connection.introspection.table_names(cursor))
        tables = sorted((wanted | {"django_migrations"}) & existing)
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)"
            " AND pg_has_role(%s, tableowner, 'MEMBER')",
            [tables, role],
        )
        owned = sorted(row[0] for row in cursor.fetchall())
        if owned:
            raise InvalidArgumentError(
                f"{role!r} owns (or is a member of the owner of) {', '.join(owned[:5])}: it could disable the triggers"
            )
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quote(role)}")
        for table in tables:
            privileges = "SELECT" if table == "django_migrations" else INSERT_ONLY if table in insert_only else READ_WRITE
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {quote(role)}")
            cursor.execute(f"GRANT {privileges} ON {quote(table)} TO {quote(role)}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quote(role)}")
    return {
        "role": role,
        "insert_only": sorted(insert_only & set(tables)),
        "read_write": len([t for t in tables if t not in insert_only and t != "django_migrations"]),
    }
