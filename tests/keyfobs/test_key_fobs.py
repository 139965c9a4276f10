"""CONTRACT §9: key fobs — PSKC import, assignment, RFC 6238 with a frozen clock, drift, once, block."""

from __future__ import annotations

import datetime

import pskc
import pytest
from django.utils import timezone

from audit.models import AuditEntry
from citizens.models import Citizen
from keyfobs import totp
from keyfobs.models import KeyFob
from keyfobs.selectors import citizen_has_key_fob
from keyfobs.services import key_fob_assign, key_fob_code_verify, key_fob_revoke, key_fob_seed, key_fobs_import
from nemid_app_backend.exceptions import (
    InvalidCredentialsError,
    InvalidPskcError,
    KeyFobAlreadyAssignedError,
    TooManyAttemptsError,
    UnknownKeyFobError,
)
from tests.factories import CitizenFactory
from tests.keyfobs.pskc_helper import SAMPLE_FOBS, SAMPLE_PATH, make_pskc

pytestmark = pytest.mark.django_db

SEED = b"12345678901234567890"  # RFC 6238 appendix B's SHA-1 seed
T0 = datetime.datetime(2026, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)  # a step boundary: 1777636800 / 30


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    now = [T0]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


@pytest.fixture
def fob(citizen):  # type: ignore[no-untyped-def]
    key_fobs_import(source=make_pskc([("FOB1", SEED)]), actor="test")
    return key_fob_assign(citizen=citizen, serial="FOB1", actor="test")


def code(step_offset: int, at: datetime.datetime = T0) -> str:
    return totp.code_at_step(SEED, totp.time_step(at, 30) + step_offset)


def test_rfc_6238_test_vectors():
    # RFC 6238 appendix B, SHA-1, 8 digits; we take 6 digits the same way (the last 6 of the truncation)
    moments = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"}
    for unix, expected in moments.items():
        moment = datetime.datetime.fromtimestamp(unix, tz=datetime.UTC)
        assert totp.code_at(SEED, moment, digits=8) == expected
        assert totp.code_at(SEED, moment) == expected[-6:]


def test_import_stores_seeds_encrypted(citizen):
    result = key_fobs_import(source=make_pskc([("A1", SEED), ("A2", b"another seed value!!")]), actor="test")
    assert result.serials == ["A1", "A2"]
    stored = KeyFob.objects.get(serial="A1")
    assert stored.status == "stock" and stored.citizen is None
    assert SEED not in stored.seed_encrypted.encode() and b"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA" not in stored.seed_encrypted.encode()
    assert key_fob_seed(stored) == SEED
    assert AuditEntry.objects.filter(action="key_fob.imported", object_id="A1").exists()
    again = key_fobs_import(source=make_pskc([("A1", SEED), ("A3", b"a third seed value!!")]), actor="test")
    assert again.serials == ["A3"] and again.skipped == [{"serial": "A1", "reason": "already imported"}]


def test_a_vendors_drift_is_kept_within_the_remembered_limit():
    """A drift from the vendor's file is remembered as one learnt from codes: at most
    MAX_REMEMBERED_DRIFT steps (a huge one would overflow the column, and widen nothing useful)."""
    key_fobs_import(source=make_pskc([("D1", SEED)], drift=3), actor="test")
    key_fobs_import(source=make_pskc([("D2", SEED)], drift=-(2**40)), actor="test")
    key_fobs_import(source=make_pskc([("D3", SEED)], drift=2**40), actor="test")
    drifts = dict(KeyFob.objects.values_list("serial", "drift"))
    assert drifts == {"D1": 3, "D2": -10, "D3": 10}


def test_import_of_an_encrypted_pskc_file():
    source = make_pskc([("ENC1", SEED)], password="vendor passphrase")
    with pytest.raises(InvalidPskcError):
        key_fobs_import(source=source, actor="test")  # without the password nothing is readable
    result = key_fobs_import(source=source, actor="test", password="vendor passphrase")
    assert result.serials == ["ENC1"] and key_fob_seed(KeyFob.objects.get(serial="ENC1")) == SEED


def test_import_refuses_what_is_not_pskc():
    for source in (b"", b"not xml", b"<a/>", b"<?xml version='1.0'?><x>" * 3):
        with pytest.raises(InvalidPskcError):
            key_fobs_import(source=source, actor="test")
    hotp = make_pskc([("H1", SEED)], algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp")
    with pytest.raises(InvalidPskcError):
        key_fobs_import(source=hotp, actor="test")


def test_the_shipped_sample_is_what_the_helper_makes():
    shipped = pskc.PSKC(str(SAMPLE_PATH))
    assert [(key.serial, key.secret) for key in shipped.keys] == SAMPLE_FOBS
    result = key_fobs_import(source=SAMPLE_PATH.read_bytes(), actor="test")
    assert result.serials == [serial for serial, _ in SAMPLE_FOBS]


def test_assignment_by_serial(citizen):
    key_fobs_import(source=make_pskc([("F1", SEED), ("F2", SEED + b"x")]), actor="test")
    assert not citizen_has_key_fob(citizen=citizen)
    fob = key_fob_assign(citizen=citizen, serial="F1", actor="test")
    assert fob.status == "assigned" and fob.citizen == citizen and citizen_has_key_fob(citizen=citizen)
    assert key_fob_assign(citizen=citizen, serial="F1", actor="test").pk == fob.pk  # idempotent
    with pytest.raises(KeyFobAlreadyAssignedError):
        key_fob_assign(citizen=CitizenFactory(), serial="F1", actor="test")
    with pytest.raises(UnknownKeyFobError):
        key_fob_assign(citizen=citizen, serial="NOPE", actor="test")
    key_fob_assign(citizen=citizen, serial="F2", actor="test")  # a new fob replaces the old
    assert KeyFob.objects.get(serial="F1").status == "revoked"
    assert AuditEntry.objects.filter(action="key_fob.assigned").count() == 2
    assert AuditEntry.objects.filter(action="key_fob.revoked", object_id="F1").exists()


def test_the_current_code_is_accepted_once(fob, clock, citizen):
    key_fob_code_verify(citizen=citizen, code=code(0))
    with pytest.raises(InvalidCredentialsError):
        key_fob_code_verify(citizen=citizen, code=code(0))
    clock[0] = T0 + datetime.timedelta(seconds=30)
    key_fob_code_verify(citizen=citizen, code=code(1))
    fob.refresh_from_db()
    assert fob.last_used_at == clock[0] and fob.failures == 0
    assert AuditEntry.objects.filter(action="key_fob.code_used", object_id=fob.serial).count() == 2


def test_one_step_of_drift_either_way_not_two(citizen, fob, clock):
    for offset in (2, -2):
        with pytest.raises(InvalidCredentialsError):
            key_fob_code_verify(citizen=citizen, code=code(offset))
        Citizen.objects.filter(pk=citizen.pk).update(failed_attempts=0)
        KeyFob.objects.filter(pk=fob.pk).update(failures=0, blocked_until=None)
    key_fob_code_verify(citizen=citizen, code=code(-1))
    KeyFob.objects.filter(pk=fob.pk).update(drift=0, last_step=None)  # as new
    key_fob_code_verify(citizen=citizen, code=code(+1))


def test_an_older_code_is_refused_after_a_newer_one(citizen, fob, clock):
    key_fob_code_verify(citizen=citizen, code=code(1))
    with pytest.raises(InvalidCredentialsError):
        key_fob_code_verify(citizen=citizen, code=code(0))
    with pytest.raises(InvalidCredentialsError):
        key_fob_code_verify(citizen=citizen, code=code(-1))


def test_drift_is_remembered(citizen, fob, clock):
    key_fob_code_verify(citizen=citizen, code=code(1))  # the fob runs one step fast
    fob.refresh_from_db()
    assert fob.drift == 1
    later = T0 + datetime.timedelta(minutes=10)
    clock[0] = later
    # two steps ahead of the server is now within one step of the remembered drift
    key_fob_code_verify(citizen=citizen, code=code(2, later))
    fob.refresh_from_db()
    assert fob.drift == 2


def test_three_wrong_codes_in_a_row_block_the_fob_for_a_while(citizen, fob, clock):
    wrong = f"{(int(code(0)) + 1) % 10**6:06d}"
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            key_fob_code_verify(citizen=citizen, code=wrong)
    fob.refresh_from_db()
    assert fob.failures == 3 and fob.blocked_until == T0 + datetime.timedelta(seconds=60)
    with pytest.raises(TooManyAttemptsError) as caught:
        key_fob_code_verify(citizen=citizen, code=code(0))  # right, but not checked
    assert caught.value.headers["Retry-After"] == "60"
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 3  # the blocked attempt counted neither way
    clock[0] = T0 + datetime.timedelta(seconds=60)
    key_fob_code_verify(citizen=citizen, code=code(0, clock[0]))
    fob.refresh_from_db()
    assert fob.failures == 0 and fob.blocked_until is None


def test_malformed_codes_are_wrong_codes(citizen, fob, clock):
    for value in ("12345", "1234567", "abcdef", "١٢٣٤٥٦", None, 123456):
        with pytest.raises(InvalidCredentialsError):
            key_fob_code_verify(citizen=citizen, code=value)
        KeyFob.objects.filter(pk=fob.pk).update(failures=0, blocked_until=None)
        Citizen.objects.filter(pk=citizen.pk).update(failed_attempts=0)
    key_fob_code_verify(citizen=citizen, code=f"{code(0)[:3]} {code(0)[3:]}")


def test_revoked_and_missing_fobs_accept_nothing(citizen, fob, clock):
    key_fob_revoke(fob=fob, actor="admin:op", reason="lost")
    assert not citizen_has_key_fob(citizen=citizen)
    with pytest.raises(InvalidCredentialsError):
        key_fob_code_verify(citizen=citizen, code=code(0))
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1
