"""CONTRACT §9: key cards — issue, ask, check once, replace at 20 left, retire, revoke, throttle, audit."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEntry
from citizens.models import Citizen
from keycards.models import KeyCard, KeyCardCode
from keycards.selectors import citizen_has_active_key_card, key_card_codes_left, key_cards_for_citizen
from keycards.services import (
    key_card_challenge,
    key_card_code_verify,
    key_card_issue,
    key_card_revoke,
    key_cards_print_queued,
)
from nemid_app_backend.exceptions import AuthenticatorNotAllowedError, InvalidCredentialsError, TooManyAttemptsError

pytestmark = pytest.mark.django_db


def answer(citizen, codes_by_serial):  # type: ignore[no-untyped-def]
    """Ask for a key and answer it right from the card the server names."""
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    codes = codes_by_serial[challenge.serial_hint]
    key_card_code_verify(citizen=citizen, key=challenge.key, code=codes[challenge.key])
    return challenge


def test_issue_gives_148_codes_stored_only_as_keyed_hashes(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    assert len(issued.codes) == 148
    assert sorted(issued.codes) == [f"{n:04d}" for n in range(1, 149)]
    assert all(len(code) == 6 and code.isdigit() for code in issued.codes.values())
    assert issued.card.serial.isdigit() and issued.card.status == "active"
    stored = list(KeyCardCode.objects.filter(card=issued.card).values_list("code_hash", flat=True))
    assert len(stored) == 148
    assert not set(issued.codes.values()) & set(stored)
    assert issued.card.print_payload_encrypted == ""  # shown once, never kept
    entry = AuditEntry.objects.get(action="key_card.issued", object_id=str(issued.card.id))
    assert not any(code in str(entry.data) for code in list(issued.codes.values())[:5])
    assert citizen_has_active_key_card(citizen=citizen)


def test_the_server_asks_for_a_random_unused_key_and_asks_it_again_until_answered(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    first = key_card_challenge(citizen=citizen)
    assert first is not None and first.serial_hint == issued.card.serial[-3:]
    assert key_card_challenge(citizen=citizen) == first  # no shopping for a known key
    key_card_code_verify(citizen=citizen, key=first.key, code=issued.codes[first.key])
    keys = set()
    for _ in range(30):
        challenge = answer(citizen, {issued.card.serial[-3:]: issued.codes})
        keys.add(challenge.key)
    assert first.key not in keys  # used once
    assert len(keys) == 30  # never a used one again


def test_a_code_is_accepted_once(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    key_card_code_verify(citizen=citizen, key=challenge.key, code=issued.codes[challenge.key])
    with pytest.raises(InvalidCredentialsError):
        key_card_code_verify(citizen=citizen, key=challenge.key, code=issued.codes[challenge.key])
    assert KeyCardCode.objects.get(card=issued.card, key_number=challenge.key).used_at is not None


def test_only_the_asked_key_is_accepted(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    other = "0001" if challenge.key != "0001" else "0002"
    with pytest.raises(InvalidCredentialsError):
        key_card_code_verify(citizen=citizen, key=other, code=issued.codes[other])
    key_card_code_verify(
        citizen=citizen, key=challenge.key, code=f" {issued.codes[challenge.key][:3]} {issued.codes[challenge.key][3:]} "
    )


def test_wrong_codes_count_toward_the_card_delay_and_the_section_7_lock(citizen, monkeypatch):
    issued = key_card_issue(citizen=citizen, actor="test")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    right = issued.codes[challenge.key]
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start)
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            key_card_code_verify(citizen=citizen, key=challenge.key, code=wrong)
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 3
    with pytest.raises(TooManyAttemptsError) as caught:
        key_card_code_verify(citizen=citizen, key=challenge.key, code=right)  # blocked: not checked
    assert caught.value.headers["Retry-After"] == "60"
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 3
    monkeypatch.setattr(timezone, "now", lambda: start + datetime.timedelta(seconds=60))
    key_card_code_verify(citizen=citizen, key=challenge.key, code=right)
    card = KeyCard.objects.get(pk=issued.card.pk)
    assert card.failures == 0 and card.blocked_until is None and card.last_used_at is not None
    assert AuditEntry.objects.filter(action="key_card.code_failed", object_id=str(card.id)).count() == 3
    assert AuditEntry.objects.filter(action="key_card.code_used", object_id=str(card.id)).count() == 1


def test_a_locked_citizen_is_not_checked(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + datetime.timedelta(minutes=5))
    with pytest.raises(TooManyAttemptsError):
        key_card_code_verify(citizen=citizen, key=challenge.key, code=issued.codes[challenge.key])
    assert KeyCardCode.objects.filter(card=issued.card, used_at__isnull=False).count() == 0


def test_never_for_a_payment_or_3ds(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    for purpose in ("payment", "3ds"):
        with pytest.raises(AuthenticatorNotAllowedError) as caught:
            key_card_code_verify(citizen=citizen, key=challenge.key, code=issued.codes[challenge.key], purpose=purpose)
        assert caught.value.http_status == 403 and caught.value.code == "authenticator_not_allowed"
    assert KeyCardCode.objects.filter(card=issued.card, used_at__isnull=False).count() == 0


def test_no_card_is_a_wrong_code(citizen):
    assert key_card_challenge(citizen=citizen) is None
    assert not citizen_has_active_key_card(citizen=citizen)
    with pytest.raises(InvalidCredentialsError):
        key_card_code_verify(citizen=citizen, key="0001", code="123456")
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1


@override_settings(NEMID_KEY_CARD_REISSUE_AT=20)
def test_a_new_card_at_20_codes_left_queued_for_printing_and_the_old_retired_on_its_first_use(citizen):
    old = key_card_issue(citizen=citizen, actor="test")
    cards = {old.card.serial[-3:]: old.codes}
    for _ in range(148 - 21):
        answer(citizen, cards)
    assert KeyCard.objects.filter(citizen=citizen).count() == 1
    answer(citizen, cards)  # 20 left now
    assert key_card_codes_left(card=old.card) == 20
    new = KeyCard.objects.get(citizen=citizen, status="pending")
    assert new.auto_issued and new.print_queued_at is not None and new.printed_at is None
    assert AuditEntry.objects.filter(action="key_card.reissued", object_id=str(new.id)).exists()

    printed = key_cards_print_queued(actor="test")
    assert [item["card_id"] for item in printed] == [str(new.id)]
    assert printed[0]["serial"] == new.serial and printed[0]["user_id"] == citizen.user_id and len(printed[0]["codes"]) == 148
    assert key_cards_print_queued(actor="test") == []  # printed once
    new.refresh_from_db()
    assert new.printed_at is not None and new.print_payload_encrypted == ""
    cards[new.serial[-3:]] = printed[0]["codes"]

    # the old card is asked until it has no codes left, then the new one; its first use retires the old
    for _ in range(20):
        challenge = answer(citizen, cards)
        assert challenge.serial_hint == old.card.serial[-3:]
    challenge = answer(citizen, cards)
    assert challenge.serial_hint == new.serial[-3:]
    old.card.refresh_from_db()
    new.refresh_from_db()
    assert old.card.status == "retired" and new.status == "active"
    assert AuditEntry.objects.filter(action="key_card.retired", object_id=str(old.card.id)).exists()
    assert AuditEntry.objects.filter(action="key_card.activated", object_id=str(new.id)).exists()


def test_issue_while_a_card_is_active_makes_a_replacement(citizen):
    first = key_card_issue(citizen=citizen, actor="test")
    second = key_card_issue(citizen=citizen, actor="test")
    third = key_card_issue(citizen=citizen, actor="test")
    states = {card.pk: card.status for card in KeyCard.objects.filter(citizen=citizen)}
    assert states == {first.card.pk: "active", second.card.pk: "revoked", third.card.pk: "pending"}


def test_revocation_by_operator_and_the_replacement_takes_over(citizen):
    first = key_card_issue(citizen=citizen, actor="test")
    second = key_card_issue(citizen=citizen, actor="test")
    key_card_revoke(card=first.card, actor="admin:op", reason="lost")
    first.card.refresh_from_db()
    second.card.refresh_from_db()
    assert first.card.status == "revoked" and second.card.status == "active"
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None and challenge.serial_hint == second.card.serial[-3:]
    key_card_revoke(card=second.card, actor="admin:op")
    assert key_card_challenge(citizen=citizen) is None
    assert AuditEntry.objects.filter(action="key_card.revoked").count() == 2
    with pytest.raises(InvalidCredentialsError):
        key_card_code_verify(citizen=citizen, key=challenge.key, code=second.codes[challenge.key])


def test_operator_view_shows_state_never_codes(citizen):
    issued = key_card_issue(citizen=citizen, actor="test")
    answer(citizen, {issued.card.serial[-3:]: issued.codes})
    (state,) = key_cards_for_citizen(citizen=citizen)
    assert state.codes_left == 147 and state.card.last_used_at is not None
