"""docs/contract §9: a new phone without an activation letter — POST /api/v1/devices/challenges, then
POST /api/v1/devices with `challenge` (user ID + password + key card or key fob code), over HTTP."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEntry
from citizens.models import Citizen
from citizens.services import citizen_password_set
from devices.models import Device, DeviceChallenge
from keycards.models import KeyCardCode
from keycards.services import key_card_issue
from keyfobs import totp
from keyfobs.services import key_fob_assign, key_fobs_import
from tests.factories import CitizenFactory, DeviceFactory
from tests.keyfobs.pskc_helper import make_pskc
from tests.phone import Phone

pytestmark = pytest.mark.django_db

CHALLENGES = "/api/v1/devices/challenges"
DEVICES = "/api/v1/devices"
PASSWORD = "blue horse eats late"
SEED = b"12345678901234567890"


@pytest.fixture
def holder(citizen):  # type: ignore[no-untyped-def]
    """A citizen with a password and a key card; `holder.codes` are the card's codes."""
    citizen_password_set(citizen=citizen, password=PASSWORD)
    citizen.codes = key_card_issue(citizen=citizen, actor="test").codes
    return citizen


def challenge_for(api, user_id: str) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(CHALLENGES, {"user_id": user_id}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def register(api, challenge: dict, user_id: str, *, phone: Phone | None = None, **answer):  # type: ignore[no-untyped-def]
    phone = phone or Phone()
    body = {
        "challenge": {"challenge_id": challenge["challenge_id"], "user_id": user_id, **answer},
        "public_key": phone.public_jwk,
        "name": "New phone",
        "platform": "android",
        "proof": phone.challenge_proof(challenge["challenge_id"]),
    }
    return api.post(DEVICES, body, format="json")


def right_code(holder, challenge: dict) -> str:  # type: ignore[no-untyped-def]
    return holder.codes[challenge["key_card"]["key"]]


def assert_invalid_credentials(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_credentials"


def test_end_to_end_with_a_key_card(api, holder):
    challenge = challenge_for(api, holder.user_id)
    assert set(challenge) == {"challenge_id", "key_card", "key_fob", "expires_at"}
    assert challenge["key_card"]["serial_hint"] == holder.key_cards.get().serial[-3:]
    assert re.fullmatch(r"\d{4}", challenge["key_card"]["key"]) and challenge["key_fob"] is False
    assert challenge["expires_at"].endswith("Z")
    phone = Phone()
    response = register(
        api, challenge, holder.user_id, phone=phone, password=PASSWORD, key_card_code=right_code(holder, challenge)
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == {"device_id", "user_id", "status", "created_at"}
    assert data["user_id"] == holder.user_id and data["status"] == "active"
    # the new phone works at once
    phone.device_id = data["device_id"]
    assert api.get("/api/v1/device", **phone.auth("GET", "/api/v1/device")).status_code == 200
    # the code and the challenge are used
    assert KeyCardCode.objects.get(card__citizen=holder, key_number=challenge["key_card"]["key"]).used_at is not None
    assert DeviceChallenge.objects.get(id=challenge["challenge_id"]).used_at is not None
    entry = AuditEntry.objects.get(action="device.registered", object_id=data["device_id"])
    assert entry.data["method"] == "challenge"
    assert AuditEntry.objects.filter(action="device.challenge_created", object_id=holder.user_id).exists()
    # used once: the same answer again is refused
    again = register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge))
    assert_invalid_credentials(again)


def test_end_to_end_with_a_key_fob(api, holder, monkeypatch):
    key_fobs_import(source=make_pskc([("FOB7", SEED)]), actor="test")
    key_fob_assign(citizen=holder, serial="FOB7", actor="test")
    now = datetime.datetime(2026, 5, 1, 12, 0, 10, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    challenge = challenge_for(api, holder.user_id)
    assert challenge["key_fob"] is True
    code = totp.code_at(SEED, now)
    response = register(api, challenge, holder.user_id, password=PASSWORD, key_fob_code=code)
    assert response.status_code == 201, response.content
    # the same fob code cannot activate a second phone
    second = register(api, challenge_for(api, holder.user_id), holder.user_id, password=PASSWORD, key_fob_code=code)
    assert_invalid_credentials(second)


@pytest.mark.parametrize(
    "wrong",
    ["password", "key_card_code", "user_id", "challenge_id", "used", "expired", "key_fob_without_fob", "no_password_set"],
)
def test_every_wrong_part_gets_the_one_answer(api, holder, wrong):
    challenge = challenge_for(api, holder.user_id)
    answer = {"password": PASSWORD, "key_card_code": right_code(holder, challenge)}
    user_id = holder.user_id
    if wrong == "password":
        answer["password"] = "blue horse eats early"
    elif wrong == "key_card_code":
        answer["key_card_code"] = f"{(int(answer['key_card_code']) + 1) % 10**6:06d}"
    elif wrong == "user_id":
        user_id = CitizenFactory().user_id
    elif wrong == "challenge_id":
        challenge["challenge_id"] = "6f1c1e0e-8a8a-4c4c-9d9d-000000000000"
    elif wrong == "used":
        DeviceChallenge.objects.filter(id=challenge["challenge_id"]).update(used_at=timezone.now())
    elif wrong == "expired":
        DeviceChallenge.objects.filter(id=challenge["challenge_id"]).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
    elif wrong == "key_fob_without_fob":
        answer = {"password": PASSWORD, "key_fob_code": "123456"}
    elif wrong == "no_password_set":
        Citizen.objects.filter(pk=holder.pk).update(password_hash="")
    response = register(api, challenge, user_id, **answer)
    assert_invalid_credentials(response)
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert not Device.objects.filter(citizen=holder).exists()
    assert KeyCardCode.objects.filter(card__citizen=holder, used_at__isnull=False).count() == 0


def test_a_wrong_answer_is_one_failed_attempt_toward_the_lock(api, holder):
    for field in ("password", "key_card_code"):
        challenge = challenge_for(api, holder.user_id)
        answer = {"password": PASSWORD, "key_card_code": right_code(holder, challenge)}
        answer[field] = "000000" if field == "key_card_code" and answer[field] != "000000" else "wrong wrong wrong"
        assert_invalid_credentials(register(api, challenge, holder.user_id, **answer))
    holder.refresh_from_db()
    assert holder.failed_attempts == 2
    # a right answer resets the count
    challenge = challenge_for(api, holder.user_id)
    assert (
        register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge)).status_code
        == 201
    )
    holder.refresh_from_db()
    assert holder.failed_attempts == 0 and holder.password_failures == 0


def test_right_password_with_a_wrong_code_looks_like_a_wrong_password(api, holder):
    challenge = challenge_for(api, holder.user_id)
    wrong_code = f"{(int(right_code(holder, challenge)) + 1) % 10**6:06d}"
    assert_invalid_credentials(register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=wrong_code))
    holder.refresh_from_db()
    assert holder.password_failures == 1  # the password's delay does not tell that the password was right


def test_the_key_asked_stays_until_answered_right(api, holder):
    first = challenge_for(api, holder.user_id)
    assert_invalid_credentials(register(api, first, holder.user_id, password=PASSWORD, key_card_code="000000"))
    second = challenge_for(api, holder.user_id)
    assert second["key_card"] == first["key_card"] and second["challenge_id"] != first["challenge_id"]


def test_an_unknown_user_id_looks_like_a_known_one(api, holder, monkeypatch):
    import devices.challenges

    known = challenge_for(api, holder.user_id)
    unknown = challenge_for(api, "5999999999")
    assert set(unknown) == set(known)
    assert re.fullmatch(r"\d{3}", unknown["key_card"]["serial_hint"]) and re.fullmatch(r"\d{4}", unknown["key_card"]["key"])
    assert 1 <= int(unknown["key_card"]["key"]) <= 148 and isinstance(unknown["key_fob"], bool)
    assert challenge_for(api, "5999999999")["key_card"] == unknown["key_card"]  # stable, as a real card's
    hashed = []
    real_dummy = devices.challenges.password_check_dummy
    monkeypatch.setattr(devices.challenges, "password_check_dummy", lambda **kwargs: hashed.append(1) or real_dummy(**kwargs))
    response = register(api, unknown, "5999999999", password=PASSWORD, key_card_code="123456")
    assert_invalid_credentials(response)
    assert hashed == [1]  # a password hash was spent, as for a known user ID
    assert (
        response.json().keys()
        == register(api, challenge_for(api, holder.user_id), holder.user_id, password="x" * 9, key_card_code="1").json().keys()
    )


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=100, NEMID_PASSWORD_FREE_FAILURES=3, NEMID_LOCK_THRESHOLD=100)
def test_unknown_and_known_user_ids_are_throttled_at_the_same_attempt(api, holder):
    def answers(user_id: str) -> list[int]:
        statuses = []
        for _ in range(5):
            challenge = challenge_for(api, user_id)
            statuses.append(register(api, challenge, user_id, password="wrong wrong wrong", key_card_code="123456").status_code)
        return statuses

    known, unknown = answers(holder.user_id), answers("5999999998")
    assert known == unknown == [400, 400, 400, 429, 429]


def test_a_throttled_answer_is_429_not_checked_and_not_counted(api, holder):
    challenge = challenge_for(api, holder.user_id)
    until = timezone.now() + datetime.timedelta(seconds=120)
    Citizen.objects.filter(pk=holder.pk).update(password_blocked_until=until, password_failures=3, failed_attempts=2)
    response = register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge))
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
    assert 115 <= int(response["Retry-After"]) <= 120
    holder.refresh_from_db()
    assert holder.failed_attempts == 2 and holder.password_failures == 3
    assert KeyCardCode.objects.filter(card__citizen=holder, used_at__isnull=False).count() == 0


def test_a_locked_citizen_is_429(api, holder):
    challenge = challenge_for(api, holder.user_id)
    Citizen.objects.filter(pk=holder.pk).update(locked_until=timezone.now() + datetime.timedelta(minutes=30))
    response = register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge))
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"


def test_a_citizen_without_a_key_card_gets_one_asked_all_the_same(api):
    """A null key card would tell that the user ID exists (an unknown one is asked for a key number):
    a citizen without a usable card is asked for a stable key number too, and any code for it is wrong."""
    citizen = CitizenFactory()
    citizen_password_set(citizen=citizen, password=PASSWORD, actor="test")
    challenge = challenge_for(api, citizen.user_id)
    assert set(challenge["key_card"]) == {"serial_hint", "key"} and challenge["key_fob"] is False
    assert challenge_for(api, citizen.user_id)["key_card"] == challenge["key_card"]
    response = register(api, challenge, citizen.user_id, password=PASSWORD, key_card_code="123456")
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"
    assert not Device.objects.filter(citizen=citizen).exists()


def test_the_proof_must_be_for_this_challenge(api, holder):
    challenge = challenge_for(api, holder.user_id)
    phone = Phone()
    body = {
        "challenge": {"challenge_id": challenge["challenge_id"], "user_id": holder.user_id, "password": PASSWORD,
                      "key_card_code": right_code(holder, challenge)},
        "public_key": phone.public_jwk,
        "name": "New phone",
        "platform": "android",
        "proof": phone.challenge_proof(challenge_for(api, holder.user_id)["challenge_id"]),
    }  # fmt: skip
    response = api.post(DEVICES, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_proof"
    assert DeviceChallenge.objects.get(id=challenge["challenge_id"]).used_at is None  # nothing was checked


def test_the_device_limit_applies(api, holder):
    for _ in range(5):
        DeviceFactory(citizen=holder)
    challenge = challenge_for(api, holder.user_id)
    response = register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge))
    assert response.status_code == 409 and response.json()["code"] == "device_limit_reached"


@pytest.mark.parametrize(
    "challenge_answer",
    [
        {"password": PASSWORD},  # no code
        {"password": PASSWORD, "key_card_code": "123456", "key_fob_code": "123456"},  # both
        {"key_card_code": "123456"},  # no password
        {"password": 12345678, "key_card_code": "123456"},
    ],
)
def test_malformed_answers_are_validation_errors(api, holder, challenge_answer):
    challenge = challenge_for(api, holder.user_id)
    response = register(api, challenge, holder.user_id, **challenge_answer)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_activation_code_and_challenge_together_is_a_validation_error(api, holder):
    challenge = challenge_for(api, holder.user_id)
    phone = Phone()
    body = {
        "activation_code": "AAAA-BBBB-CCCC-DDDD",
        "challenge": {
            "challenge_id": challenge["challenge_id"],
            "user_id": holder.user_id,
            "password": PASSWORD,
            "key_card_code": "123456",
        },
        "public_key": phone.public_jwk,
        "name": "New phone",
        "platform": "android",
        "proof": phone.challenge_proof(challenge["challenge_id"]),
    }
    response = api.post(DEVICES, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "user_id", ["123", "12345678901", "abcdefghij", 1234567890, "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10"]
)
def test_challenge_needs_a_user_id_of_10_digits(api, user_id):
    response = api.post(CHALLENGES, {"user_id": user_id}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


@override_settings(NEMID_DEVICE_CHALLENGES_PER_ADDRESS=3)
def test_challenges_are_limited_per_client_address(api, holder):
    for _ in range(3):
        challenge_for(api, holder.user_id)
    response = api.post(CHALLENGES, {"user_id": holder.user_id}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
    assert int(response["Retry-After"]) > 0


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=2, NEMID_LOCK_THRESHOLD=100, NEMID_PASSWORD_FREE_FAILURES=100)
def test_failed_answers_count_toward_the_registration_limit_per_address(api, holder):
    for _ in range(2):
        assert_invalid_credentials(
            register(api, challenge_for(api, holder.user_id), holder.user_id, password="wrong wrong wrong", key_card_code="1")
        )
    challenge = challenge_for(api, holder.user_id)
    response = register(api, challenge, holder.user_id, password=PASSWORD, key_card_code=right_code(holder, challenge))
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
