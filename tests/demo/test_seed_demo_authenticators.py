"""seed_demo gives the demo citizen a password, a key card and a key fob, prints them (the card's
codes, and the command that shows the fob's code), keeps them stable across runs in the 0600
credentials file (the database holds only hashes, and the seed encrypted), and `--rotate` replaces
them; demo_fob_code prints what the fob shows now."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from citizens.models import Citizen
from citizens.services import citizen_password_set
from keycards.models import KeyCard
from keyfobs import totp
from keyfobs.models import KeyFob
from keyfobs.services import key_fob_seed
from tests.conftest import seed_demo
from tests.phone import Phone

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


def seed(*args: str) -> dict:
    """What seed_demo says of the demo citizen."""
    return seed_demo(*args)["citizen"]


def fob_code() -> dict:
    out = io.StringIO()
    call_command("demo_fob_code", stdout=out)
    return json.loads(out.getvalue())


def activate(citizen: dict, *, password: str, **code: str) -> int:
    """A new phone by §9's challenge: user ID + password + a key card or key fob code."""
    api = APIClient()
    challenge = api.post("/api/v1/devices/challenges", {"user_id": citizen["user_id"]}, format="json").json()
    if code.get("key_card_code") == "asked":
        code = {"key_card_code": citizen["key_card"]["codes"][challenge["key_card"]["key"]]}
    phone = Phone()
    body = {
        "challenge": {"challenge_id": challenge["challenge_id"], "user_id": citizen["user_id"], "password": password, **code},
        "public_key": phone.public_jwk,
        "name": "Demo",
        "platform": "web",
        "proof": phone.challenge_proof(challenge["challenge_id"]),
    }
    return APIClient().post("/api/v1/devices", body, format="json").status_code


def test_the_printed_password_and_key_card_activate_a_phone():
    citizen = seed()
    assert len(citizen["key_card"]["codes"]) == 148 and len(citizen["key_card"]["serial"]) == 10
    assert activate(citizen, password=citizen["password"], key_card_code="asked") == 201
    assert activate(citizen, password="not the password", key_card_code="asked") == 400


def test_the_fob_code_command_shows_what_the_server_accepts_once(monkeypatch):
    citizen = seed()
    moment = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: moment)
    shown = fob_code()
    assert shown["serial"] == citizen["key_fob"]["serial"] and shown["used"] is False
    assert 1 <= shown["valid_for"] <= 30
    assert shown["code"] == totp.code_at(key_fob_seed(KeyFob.objects.get(serial=shown["serial"])), moment)
    assert activate(citizen, password=citizen["password"], key_fob_code=shown["code"]) == 201
    assert fob_code() == {**shown, "used": True}
    assert activate(citizen, password=citizen["password"], key_fob_code=shown["code"]) == 400
    assert citizen["key_fob"]["code_command"] == "DJANGO_DEBUG=1 .venv/bin/python manage.py demo_fob_code"


def test_twice_keeps_the_password_card_and_fob_and_rotate_replaces_them(var_dir):
    first = seed()
    second = seed()
    for field in ("password", "key_card", "key_fob"):
        assert second[field] == first[field], field
    assert KeyCard.objects.count() == 1 and KeyFob.objects.count() == 1
    rotated = seed("--rotate")
    for field in ("password", "key_card", "key_fob"):
        assert rotated[field] != first[field], field
    assert KeyCard.objects.get(serial=first["key_card"]["serial"]).status == KeyCard.Status.REVOKED
    assert KeyFob.objects.get(serial=first["key_fob"]["serial"]).status == KeyFob.Status.REVOKED
    assert activate(rotated, password=rotated["password"], key_card_code="asked") == 201
    again = seed()
    for field in ("password", "key_card", "key_fob"):
        assert again[field] == rotated[field], field


def test_a_card_that_is_no_longer_asked_is_replaced():
    first = seed()
    KeyCard.objects.filter(serial=first["key_card"]["serial"]).update(status=KeyCard.Status.REVOKED)
    second = seed()
    assert second["key_card"]["serial"] != first["key_card"]["serial"]
    assert activate(second, password=second["password"], key_card_code="asked") == 201


def test_a_password_changed_on_a_phone_is_left_alone():
    first = seed()
    mine = "a passphrase of my own choosing"
    citizen = Citizen.objects.get(user_id=first["user_id"])
    citizen_password_set(citizen=citizen, password=mine, current_password=first["password"])
    again = seed()
    assert "changed" in again["password"]
    assert activate(again, password=mine, key_card_code="asked") == 201


def test_the_codes_and_password_are_kept_in_the_private_file_only(var_dir):
    citizen = seed()
    kept = json.loads((var_dir / "demo-credentials.json").read_text())
    assert kept["password"] == citizen["password"] and kept["key_card"] == citizen["key_card"]
    from django.db import connection

    codes = list(citizen["key_card"]["codes"].values())
    with connection.cursor() as cursor:
        for table in ("citizens_citizen", "keycards_keycard", "keycards_keycardcode", "keyfobs_keyfob", "audit_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
            assert citizen["password"] not in dump, table
            for code in codes:
                assert f"'{code}'" not in dump and f'"{code}"' not in dump, table
    fob = KeyFob.objects.get(serial=citizen["key_fob"]["serial"])
    assert key_fob_seed(fob).hex() not in repr(KeyFob.objects.filter(pk=fob.pk).values_list())


@override_settings(DEBUG=True)
def test_the_text_output_prints_the_card_and_the_fob_command():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    citizen = Citizen.objects.get()
    kept = seed()
    assert citizen.user_id in text and f"Password           {kept['password']}" in text
    assert f"serial {kept['key_card']['serial']}" in text
    assert f"0001 {kept['key_card']['codes']['0001']}" in text and f"0148 {kept['key_card']['codes']['0148']}" in text
    assert "manage.py demo_fob_code" in text and kept["key_fob"]["serial"] in text


@override_settings(DEBUG=False, NEMID_DEMO=False)
def test_demo_fob_code_refuses_outside_the_demo(capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("demo_fob_code")
    assert exited.value.code == 1
    assert json.loads(capsys.readouterr().err)["code"] == "forbidden"


def test_demo_fob_code_without_a_seeded_demo_is_404(capsys):
    with pytest.raises(SystemExit):
        call_command("demo_fob_code")
    assert json.loads(capsys.readouterr().err)["code"] == "not_found"
