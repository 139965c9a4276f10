"""docs/contract §3 register_card: Luhn-checked, the PAN kept only as a keyed hash and its last 4 digits."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from nemid_app_backend.secrets import keyed_hash
from tests.factories import CitizenFactory
from threeds.models import Card
from threeds.services import card_register

pytestmark = pytest.mark.django_db

VISA = "4111111111111111"


def run(*args: str) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    """Run the command in-process; returns (exit status, stdout JSON, stderr JSON)."""
    out, err = StringIO(), StringIO()
    status = 0
    try:
        call_command("register_card", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, json.loads(out.getvalue() or "{}"), json.loads(err.getvalue() or "{}")


def test_register_card_prints_card_id_and_last4_and_stores_only_a_hash(citizen):
    status, out, err = run("--user-id", citizen.user_id, "--pan", VISA)
    assert status == 0, err
    assert set(out) == {"card_id", "last4"} and out["last4"] == "1111"
    card = Card.objects.get(id=out["card_id"])
    assert card.citizen == citizen
    assert card.pan_hash == keyed_hash("pan", VISA) and VISA not in card.pan_hash
    assert str(card) == "**** **** **** 1111"


def test_registration_is_audited_without_the_pan(citizen):
    card = card_register(citizen=citizen, pan=VISA, actor="test")
    entry = AuditEntry.objects.get(action="card.registered")
    assert entry.object_id == str(card.id) and entry.actor == "test"
    assert entry.data == {"user_id": citizen.user_id, "last4": "1111"}
    assert VISA not in json.dumps(entry.data)


def test_unknown_user_exits_1_with_a_problem():
    status, out, err = run("--user-id", "9999999999", "--pan", VISA)
    assert status == 1 and out == {}
    assert err["code"] == "unknown_user" and err["status"] == 422


@pytest.mark.parametrize(
    ("pan", "why"),
    [
        ("4111 1111 1111 1111", "spaces"),
        ("411111111111111a", "a letter"),
        ("\uff14" + "\uff11" * 15, "full-width digits"),
        ("41111111111", "11 digits"),
        ("41111111111111111111", "20 digits"),
        ("4111111111111112", "Luhn failure"),
        ("", "empty"),
    ],
)
def test_invalid_pan_exits_1_and_never_echoes_the_pan(citizen, pan, why):
    status, _, err = run("--user-id", citizen.user_id, "--pan", pan)
    assert status == 1, why
    assert err["code"] == "invalid_pan" and err["status"] == 400
    assert not pan or pan not in json.dumps(err)
    assert not Card.objects.exists()


def test_twelve_and_nineteen_digit_pans_are_accepted(citizen):
    assert run("--user-id", citizen.user_id, "--pan", "123456789007")[0] == 0  # 12 digits, Luhn-valid
    assert run("--user-id", citizen.user_id, "--pan", "4111111111111111110")[0] == 0  # 19 digits, Luhn-valid


def test_a_card_registered_already_is_card_already_registered(citizen):
    assert run("--user-id", citizen.user_id, "--pan", VISA)[0] == 0
    other = CitizenFactory()
    status, _, err = run("--user-id", other.user_id, "--pan", VISA)
    assert status == 1
    assert err["code"] == "card_already_registered" and err["status"] == 409
    assert Card.objects.count() == 1


def test_missing_argument_is_invalid_argument(citizen, capsys):
    # Argument errors happen while parsing, before call_command hands over its streams: read the real stderr.
    with pytest.raises(SystemExit) as exit_info:
        call_command("register_card", "--user-id", citizen.user_id)
    assert exit_info.value.code == 1
    assert json.loads(capsys.readouterr().err)["code"] == "invalid_argument"


# --- admin -----------------------------------------------------------------------------------


def test_admin_lists_cards_masked_never_the_hash(admin_client, citizen):
    card = card_register(citizen=citizen, pan=VISA, actor="test")
    page = admin_client.get("/admin/threeds/card/").content.decode()
    assert "**** **** **** 1111" in page and citizen.user_id in page
    assert card.pan_hash not in page and VISA not in page
    detail = admin_client.get(f"/admin/threeds/card/{card.id}/change/").content.decode()
    assert "**** **** **** 1111" in detail and card.pan_hash not in detail


def test_admin_registers_a_card_through_the_audited_service(admin_client, citizen):
    response = admin_client.post("/admin/threeds/card/add/", {"citizen": citizen.pk, "pan": "5555 5555 5555 4444"})
    assert response.status_code == 302, response.content.decode()[:2000]
    card = Card.objects.get()
    assert card.last4 == "4444" and card.pan_hash == keyed_hash("pan", "5555555555554444")
    assert AuditEntry.objects.filter(action="card.registered", object_id=str(card.id), actor__startswith="admin:").exists()


def test_admin_refuses_an_invalid_or_duplicate_pan(admin_client, citizen):
    response = admin_client.post("/admin/threeds/card/add/", {"citizen": citizen.pk, "pan": "4111111111111112"})
    assert response.status_code == 200 and "Luhn" in response.content.decode()
    card_register(citizen=citizen, pan=VISA, actor="test")
    response = admin_client.post("/admin/threeds/card/add/", {"citizen": citizen.pk, "pan": VISA})
    assert response.status_code == 200 and "already registered" in response.content.decode()
    assert Card.objects.count() == 1


def test_admin_removal_is_audited(admin_client, citizen):
    card = card_register(citizen=citizen, pan=VISA, actor="test")
    response = admin_client.post(f"/admin/threeds/card/{card.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Card.objects.exists()
    assert AuditEntry.objects.filter(action="card.removed", object_id=str(card.id)).exists()
