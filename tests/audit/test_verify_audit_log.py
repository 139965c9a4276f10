"""docs/contract §3, §7: the audit log is hash-chained and verify_audit_log finds the first broken entry."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from audit.services import audit_append

pytestmark = pytest.mark.django_db


def verify() -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            call_command("verify_audit_log", stdout=out, stderr=err)
        except SystemExit as exc:
            assert out.getvalue() == ""
            return int(exc.code or 0), json.loads(err.getvalue())
    return 0, json.loads(out.getvalue())


@contextlib.contextmanager
def tampering():
    """Act as someone with direct database access: on PostgreSQL the append-only trigger is
    switched off first (which a superuser can do); verification must still catch the change."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")


@pytest.fixture
def chain() -> list[AuditEntry]:
    return [audit_append(action="test.event", object_type="thing", object_id=n, actor="t", data={"n": n}) for n in range(5)]


def test_empty_log_is_ok():
    assert verify() == (0, {"entries": 0, "ok": True})


def test_intact_chain(chain):
    assert verify() == (0, {"entries": 5, "ok": True})


def test_edited_entry_is_detected(chain):
    with tampering():
        AuditEntry.objects.filter(seq=3).update(data={"n": 99})
    code, problem = verify()
    assert code == 1 and problem["ok"] is False and problem["broken_seq"] == 3 and problem["entries"] == 2
    assert problem["code"] == "audit_chain_broken" and "3" in problem["detail"]


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(chain):
    from audit.services import entry_hash, format_time

    entry = AuditEntry.objects.get(seq=2)
    entry.actor = "someone else"
    entry.hash = entry_hash(
        seq=entry.seq, created_at=format_time(entry.created_at), action=entry.action, actor=entry.actor,
        object_type=entry.object_type, object_id=entry.object_id, data=entry.data, prev_hash=entry.prev_hash,
    )  # fmt: skip
    with tampering():
        entry.save()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 3


def test_deleted_entry_is_detected(chain):
    with tampering():
        AuditEntry.objects.filter(seq=4).delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 4 and "missing" in problem["reason"]


def test_deleted_last_entry_is_detected(chain):
    with tampering():
        AuditEntry.objects.filter(seq=5).delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 5


@pytest.mark.postgres
def test_database_refuses_update_and_delete_of_entries(chain):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=2).update(actor="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=2).delete()
    assert verify() == (0, {"entries": 5, "ok": True})
