"""docs/contract §9: import_key_fobs and assign_key_fob."""

from __future__ import annotations

import pytest

from keyfobs.models import KeyFob
from tests.citizens.test_commands import fail, run
from tests.factories import CitizenFactory
from tests.keyfobs.pskc_helper import SAMPLE_FOBS, SAMPLE_PATH, make_pskc

pytestmark = pytest.mark.django_db


def test_import_key_fobs_from_the_sample_file():
    data = run("import_key_fobs", "--file", str(SAMPLE_PATH))
    assert data["imported"] == len(SAMPLE_FOBS) and data["serials"] == [serial for serial, _ in SAMPLE_FOBS]
    assert KeyFob.objects.filter(status="stock").count() == len(SAMPLE_FOBS)
    again = run("import_key_fobs", "--file", str(SAMPLE_PATH))
    assert again["imported"] == 0 and len(again["skipped"]) == len(SAMPLE_FOBS)


def test_import_an_encrypted_file_with_a_password_file(tmp_path):
    source = tmp_path / "tokens.pskc"
    source.write_bytes(make_pskc([("ENC9", b"0123456789abcdefghij")], password="s3cret phrase"))
    secret = tmp_path / "password"
    secret.write_text("s3cret phrase\n")
    data = run("import_key_fobs", "--file", str(source), "--password-file", str(secret))
    assert data["serials"] == ["ENC9"]


def test_import_key_fobs_errors(tmp_path):
    bad = tmp_path / "bad.pskc"
    bad.write_text("<not pskc")
    assert fail("import_key_fobs", "--file", str(bad))["code"] == "invalid_pskc"
    assert fail("import_key_fobs", "--file", str(tmp_path / "missing.pskc"))["code"] == "invalid_argument"


def test_assign_key_fob(citizen):
    run("import_key_fobs", "--file", str(SAMPLE_PATH))
    serial = SAMPLE_FOBS[0][0]
    assert run("assign_key_fob", "--user-id", citizen.user_id, "--serial", serial) == {
        "serial": serial,
        "user_id": citizen.user_id,
    }
    assert KeyFob.objects.get(serial=serial).citizen == citizen
    other = CitizenFactory()
    assert fail("assign_key_fob", "--user-id", other.user_id, "--serial", serial)["code"] == "key_fob_already_assigned"
    assert fail("assign_key_fob", "--user-id", other.user_id, "--serial", "NOSUCH")["code"] == "unknown_key_fob"
    assert fail("assign_key_fob", "--user-id", "0000000000", "--serial", serial)["code"] == "unknown_user"
