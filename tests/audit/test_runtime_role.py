"""The runtime database role (PostgreSQL): it may INSERT into and SELECT from the audit tables and
nothing else there, while the service's appends, seals and checkpoints work (docs/deployment.md)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_append, audit_seal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AUDIT_TABLES = ("audit_auditentry", "audit_auditseal", "audit_auditcheckpoint")


@pytest.fixture
def runtime_role():  # type: ignore[no-untyped-def]
    role = f"nemid_runtime_test_{os.getpid()}_{secrets.token_hex(3)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOINHERIT')
    try:
        yield role
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


@contextlib.contextmanager
def acting_as(role: str):  # type: ignore[no-untyped-def]
    """Run the service's own code with the role's privileges (what a connection as the role gets)."""
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{role}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def grant(role: str) -> dict:
    out = io.StringIO()
    call_command("grant_runtime_role", "--role", role, stdout=out)
    return json.loads(out.getvalue())


def test_the_runtime_role_appends_and_seals_but_cannot_rewrite_the_log(runtime_role):
    granted = grant(runtime_role)
    assert granted["insert_only"] == sorted(AUDIT_TABLES) and granted["read_write"] > 10
    with acting_as(runtime_role):
        with transaction.atomic():  # sealed in the appending transaction: no wait for others on the server
            for n in range(3):
                audit_append(action="test.event", object_type="thing", object_id=n)
            report = audit_seal()
        assert report.sealed == 3 and report.checkpoint is not None  # the signing key is made as the role too
        assert audit_chain_verify().ok
        for table in AUDIT_TABLES:
            for statement in (f"UPDATE {table} SET seq = seq" if table != "audit_auditentry" else f"UPDATE {table} SET actor = ''",
                              f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE",
                              f"ALTER TABLE {table} DISABLE TRIGGER audit_append_only"):  # fmt: skip
                with pytest.raises(DatabaseError, match=r"permission denied|must be owner"), transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute(statement)
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
        with transaction.atomic():  # the rest of the service reads and writes as before
            with connection.cursor() as cursor:
                cursor.execute("UPDATE signing_signingkey SET retired_at = retired_at")


def test_a_login_as_the_runtime_role_is_refused_the_same(runtime_role):
    grant(runtime_role)
    with transaction.atomic():
        audit_append(action="test.event", object_type="thing", object_id=1)
        audit_seal()
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432, dbname=settings_dict["NAME"], user=runtime_role,
        autocommit=True,
    ) as login:  # fmt: skip
        assert login.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] == AuditEntry.objects.count()
        for statement in (
            "DELETE FROM audit_auditentry",
            "TRUNCATE audit_auditseal CASCADE",
            "UPDATE audit_auditcheckpoint SET hash = ''",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                login.execute(statement)


def test_granting_refuses_a_role_that_could_undo_the_protection(runtime_role):
    out, err = io.StringIO(), io.StringIO()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_auditentry'")
        owner = cursor.fetchone()[0]
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        call_command("grant_runtime_role", "--role", owner, stdout=out, stderr=err)
    problem = json.loads(err.getvalue())
    assert problem["code"] == "invalid_argument"
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        call_command("grant_runtime_role", "--role", runtime_role + "_missing", stdout=out, stderr=(err := io.StringIO()))
    assert "no role" in json.loads(err.getvalue())["detail"]
