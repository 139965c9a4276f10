"""docs/contract §3, §7: the audit log is a keyed hash chain and verify_audit_log finds the first broken entry.

Each forgery is made as someone with full write access to the database would make it (on PostgreSQL a
superuser, who can switch the append-only triggers off), but without the server's keys unless a test
says otherwise."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit.chain import entry_mac, link_hash
from audit.models import AuditCheckpoint, AuditEntry, AuditSeal
from audit.services import audit_append, audit_seal
from signing.services import signing_key_rotate

pytestmark = pytest.mark.django_db


def verify(*args: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            call_command("verify_audit_log", *args, stdout=out, stderr=err)
        except SystemExit as exc:
            assert out.getvalue() == ""
            return int(exc.code or 0), json.loads(err.getvalue())
    return 0, json.loads(out.getvalue())


@contextlib.contextmanager
def tampering():
    """Act as someone with direct database access: on PostgreSQL the append-only triggers (and the
    foreign key checks) are switched off first, which a superuser can do; verification must still
    catch the change."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET session_replication_role")


@pytest.fixture
def chain() -> list[AuditEntry]:
    """Six sealed entries (the signing key's creation first, so that checkpoints add none), one checkpoint."""
    # One transaction: the sealer seals its own transaction's entries at once, whatever else runs on
    # the PostgreSQL server (it waits for every other transaction that could still add an entry).
    with transaction.atomic():
        signing_key_rotate(actor="t")
        for n in range(5):
            audit_append(action="test.event", object_type="thing", object_id=n, actor="t", data={"n": n})
        report = audit_seal()
    assert report.sealed == 6 and report.checkpoint is not None and report.checkpoint.seq == 6
    return [seal.entry for seal in AuditSeal.objects.select_related("entry").order_by("seq")]


def plain_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_empty_log_is_ok():
    assert verify() == (0, {"entries": 0, "ok": True})


def test_intact_chain(chain):
    assert verify() == (0, {"entries": 6, "ok": True})


def test_verify_seals_what_was_appended_since(chain):
    audit_append(action="test.later", object_type="thing", object_id="x")
    assert verify() == (0, {"entries": 7, "ok": True})


def test_edited_entry_is_detected(chain):
    with tampering():
        AuditEntry.objects.filter(pk=chain[2].pk).update(data={"n": 99})
    code, problem = verify()
    assert code == 1 and problem["ok"] is False and problem["broken_seq"] == 3 and problem["entries"] == 2
    assert problem["code"] == "audit_chain_broken" and "3" in problem["detail"] and "MAC" in problem["reason"]


def test_edited_entry_with_a_plain_sha256_mac_is_detected(chain):
    """The forger recomputes the entry's MAC and every later link, with SHA-256 for want of the key."""
    entry = chain[1]
    entry.actor = "someone else"
    content = json.dumps([entry.created_at.isoformat(), entry.action, entry.actor, entry.object_id, entry.data])
    with tampering():
        AuditEntry.objects.filter(pk=entry.pk).update(actor=entry.actor, mac=plain_sha256(content))
        prev = AuditSeal.objects.get(seq=1).hash
        for seal in AuditSeal.objects.filter(seq__gte=2).order_by("seq"):
            mac = AuditEntry.objects.get(pk=seal.entry_id).mac
            prev = plain_sha256(f"{prev}:{seal.seq}:{seal.entry_id}:{mac}")
            AuditSeal.objects.filter(seq=seal.seq).update(hash=prev)
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 2 and problem["code"] == "audit_chain_broken"


def test_whole_log_rechained_with_plain_sha256_is_detected(chain):
    with tampering():
        prev = "0" * 64
        for seal in AuditSeal.objects.order_by("seq"):
            entry = AuditEntry.objects.get(pk=seal.entry_id)
            mac = plain_sha256(json.dumps([entry.created_at.isoformat(), entry.action, entry.actor, entry.data]))
            AuditEntry.objects.filter(pk=entry.pk).update(mac=mac)
            prev = plain_sha256(f"{prev}:{seal.seq}:{entry.pk}:{mac}")
            AuditSeal.objects.filter(seq=seal.seq).update(hash=prev)
        AuditCheckpoint.objects.all().delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 1 and problem["entries"] == 0


def test_deleted_entry_is_detected(chain):
    with tampering():
        AuditSeal.objects.filter(seq=4).delete()
        AuditEntry.objects.filter(pk=chain[3].pk).delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 4 and "missing" in problem["reason"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed: no foreign key check left pending for the test's end
def test_deleted_entry_whose_seal_is_left_is_detected(chain):
    with tampering():
        AuditEntry.objects.filter(pk=chain[3].pk).delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 4 and problem["entry_id"] == chain[3].pk and "missing" in problem["reason"]


def test_renumbered_chain_after_a_deletion_is_detected(chain):
    """Remove entry 4 and move the later seals down so that the positions have no gap."""
    with tampering():
        AuditSeal.objects.filter(seq=4).delete()
        AuditEntry.objects.filter(pk=chain[3].pk).delete()
        for seal in AuditSeal.objects.filter(seq__gt=4).order_by("seq"):
            AuditSeal.objects.filter(seq=seal.seq).update(seq=seal.seq - 1)
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 4 and "chain hash" in problem["reason"]


def test_deleted_tail_is_detected_by_the_checkpoint(chain):
    with tampering():
        AuditSeal.objects.filter(seq__gte=5).delete()
        AuditEntry.objects.filter(pk__in=[chain[4].pk, chain[5].pk]).delete()
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 5 and "removed" in problem["reason"] and problem["entries"] == 4


def test_inserted_entry_without_the_key_is_detected(chain):
    with tampering():
        AuditEntry.objects.create(
            created_at=chain[0].created_at, action="citizen.unlocked", object_type="citizen", object_id="1", mac="0" * 64
        )
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 7 and "MAC" in problem["reason"]


@pytest.mark.postgres
def test_entry_slipped_in_below_the_horizon_is_detected(chain):
    """An entry inserted with a transaction id the sealer has already passed is never sealed."""
    with tampering():
        AuditEntry.objects.create(
            created_at=chain[0].created_at, action="x", object_type="y", object_id="1", mac="0" * 64, txid=1
        )
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] is None and "never sealed" in problem["reason"]


def test_forged_checkpoint_is_detected(chain):
    with tampering():
        AuditCheckpoint.objects.filter(seq=6).update(hash="f" * 64)
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 1 and "checkpoint" in problem["reason"]


def test_unsigned_checkpoint_is_detected(chain):
    with tampering():
        AuditCheckpoint.objects.filter(seq=6).update(jws="")
    code, problem = verify()
    assert code == 1 and problem["broken_seq"] == 6 and "signature" in problem["reason"]


# --- against checkpoints an auditor kept ---


def kept_checkpoints(tmp_path: Path) -> Path:
    """What an auditor keeps: the body of GET /api/v1/audit/checkpoints, saved as it came."""
    response = Client().get("/api/v1/audit/checkpoints")
    assert response.status_code == 200
    path = tmp_path / "checkpoints.json"
    path.write_bytes(response.content)
    return path


def test_kept_checkpoints_verify(chain, tmp_path):
    path = kept_checkpoints(tmp_path)
    assert verify("--checkpoint", str(path)) == (0, {"entries": 6, "ok": True, "checkpoints": 1})


def test_log_rewritten_with_the_key_is_caught_by_kept_checkpoints(chain, tmp_path):
    """Someone with the server's HMAC key and the database rewrites entry 3, recomputes its MAC and
    every later link, and removes the checkpoints: the log verifies on its own, but not against the
    checkpoints an auditor kept."""
    path = kept_checkpoints(tmp_path)
    entry = chain[2]
    with tampering():
        entry.data = {"n": 42}
        entry.mac = entry_mac(
            created_at=entry.created_at, action=entry.action, actor=entry.actor,
            object_type=entry.object_type, object_id=entry.object_id, data=entry.data,
        )  # fmt: skip
        AuditEntry.objects.filter(pk=entry.pk).update(data=entry.data, mac=entry.mac)
        prev = AuditSeal.objects.get(seq=2).hash
        for seal in AuditSeal.objects.filter(seq__gte=3).order_by("seq"):
            prev = link_hash(
                prev_hash=prev, seq=seal.seq, entry_id=seal.entry_id, mac=AuditEntry.objects.get(pk=seal.entry_id).mac
            )
            AuditSeal.objects.filter(seq=seal.seq).update(hash=prev)
        AuditCheckpoint.objects.all().delete()
    assert verify()[0] == 0
    code, problem = verify("--checkpoint", str(path))
    assert code == 1 and problem["code"] == "audit_chain_broken" and problem["broken_seq"] == 1
    assert "given checkpoint at 6" in problem["reason"]


def test_truncated_log_is_caught_by_kept_checkpoints(chain, tmp_path):
    path = kept_checkpoints(tmp_path)
    with tampering():
        AuditCheckpoint.objects.all().delete()
        AuditSeal.objects.filter(seq__gte=4).delete()
        AuditEntry.objects.filter(pk__in=[e.pk for e in chain[3:]]).delete()
    assert verify() == (0, {"entries": 3, "ok": True})
    code, problem = verify("--checkpoint", str(path))
    assert code == 1 and problem["broken_seq"] == 4 and "removed" in problem["reason"]


def test_checkpoint_file_as_json_lines_or_bare_tokens(chain, tmp_path):
    jws = AuditCheckpoint.objects.get(seq=6).jws
    lines = tmp_path / "kept.jsonl"
    lines.write_text(json.dumps({"jws": jws}) + "\n" + json.dumps(jws) + "\n")
    assert verify("--checkpoint", str(lines)) == (0, {"entries": 6, "ok": True, "checkpoints": 1})


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("not json", "not JSON"),
        ('{"checkpoints": []}', "no checkpoints"),
        ('[{"seq": 1}]', "seq and a 64-character hash"),
        ('[{"jws": "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}]', "a key the server does not have"),
    ],
)
def test_unusable_checkpoint_file_is_an_invalid_argument(chain, tmp_path, content, detail):
    path = tmp_path / "kept.json"
    path.write_text(content)
    code, problem = verify("--checkpoint", str(path))
    assert code == 1 and problem["code"] == "invalid_argument" and detail in problem["detail"]


def test_checkpoint_with_an_altered_payload_is_refused(chain, tmp_path):
    header, payload, signature = AuditCheckpoint.objects.get(seq=6).jws.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["hash"] = "e" * 64
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    path = tmp_path / "kept.json"
    path.write_text(json.dumps([f"{header}.{forged}.{signature}"]))
    code, problem = verify("--checkpoint", str(path))
    assert code == 1 and problem["code"] == "invalid_argument" and "does not verify" in problem["detail"]


def test_checkpoint_whose_fields_differ_from_its_signature_is_refused(chain, tmp_path):
    checkpoint = AuditCheckpoint.objects.get(seq=6)
    path = tmp_path / "kept.json"
    path.write_text(json.dumps([{"seq": 6, "hash": "e" * 64, "jws": checkpoint.jws}]))
    code, problem = verify("--checkpoint", str(path))
    assert code == 1 and problem["code"] == "invalid_argument" and "differ" in problem["detail"]


def test_missing_checkpoint_file_is_an_invalid_argument(tmp_path):
    code, problem = verify("--checkpoint", str(tmp_path / "nothing.json"))
    assert code == 1 and problem["code"] == "invalid_argument"


# --- the database itself refuses (PostgreSQL) ---


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["audit_auditentry", "audit_auditseal", "audit_auditcheckpoint"])
def test_database_refuses_update_delete_and_truncate(chain, table):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the seals' foreign key checks, due at commit, done now
    for statement in (f"UPDATE {table} SET hash = hash", f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE"):
        if table == "audit_auditentry" and statement.startswith("UPDATE"):
            statement = f"UPDATE {table} SET actor = 'someone else'"
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert verify() == (0, {"entries": 6, "ok": True})


@pytest.mark.postgres
def test_truncating_a_table_that_cascades_to_the_log_is_refused(chain):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditentry, audit_auditseal")
    assert AuditSeal.objects.count() == 6
