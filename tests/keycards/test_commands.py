"""docs/contract §9: issue_key_card, print_key_cards and revoke_key_card."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from keycards.models import KeyCard
from keycards.services import key_card_challenge, key_card_code_verify
from tests.citizens.test_commands import fail, run

pytestmark = pytest.mark.django_db


def test_issue_key_card_prints_the_codes_once(citizen):
    data = run("issue_key_card", "--user-id", citizen.user_id)
    assert set(data) >= {"card_id", "serial", "codes"}
    assert data["serial"].isdigit() and len(data["codes"]) == 148
    assert data["codes"]["0001"].isdigit() and len(data["codes"]["0001"]) == 6
    card = KeyCard.objects.get(id=data["card_id"])
    assert card.citizen == citizen and card.status == "active"
    assert card.issued_by.startswith("cli:")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    key_card_code_verify(citizen=citizen, key=challenge.key, code=data["codes"][challenge.key])


def test_issue_key_card_errors(citizen):
    assert fail("issue_key_card", "--user-id", "0000000000")["code"] == "unknown_user"
    assert fail("issue_key_card")["code"] == "invalid_argument"


def print_lines() -> list[dict]:
    out = io.StringIO()
    call_command("print_key_cards", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


@override_settings(NEMID_KEY_CARD_REISSUE_AT=146)
def test_print_key_cards_prints_each_queued_card_once(citizen):
    data = run("issue_key_card", "--user-id", citizen.user_id)
    assert print_lines() == []  # a card shown on issue is not queued
    for _ in range(2):
        challenge = key_card_challenge(citizen=citizen)
        assert challenge is not None
        key_card_code_verify(citizen=citizen, key=challenge.key, code=data["codes"][challenge.key])
    (line,) = print_lines()
    assert set(line) == {"card_id", "serial", "user_id", "codes"}
    assert line["user_id"] == citizen.user_id and len(line["codes"]) == 148
    assert KeyCard.objects.get(id=line["card_id"]).status == "pending"
    assert print_lines() == []


def test_revoke_key_card(citizen):
    data = run("issue_key_card", "--user-id", citizen.user_id)
    revoked = run("revoke_key_card", "--serial", data["serial"], "--reason", "lost")
    assert revoked == {"card_id": data["card_id"], "serial": data["serial"], "status": "revoked"}
    assert key_card_challenge(citizen=citizen) is None
    assert fail("revoke_key_card", "--serial", "123")["code"] == "unknown_key_card"
