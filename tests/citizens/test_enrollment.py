"""docs/contract §2 and §3: CPR parsing, eligibility, enrollment and activation codes."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEntry
from citizens import services
from citizens.cpr import CprError, age_on, century_for, parse_cpr
from citizens.models import ActivationCode, Citizen
from citizens.services import (
    activation_code_issue,
    activation_code_lock_usable,
    activation_code_normalize,
    citizen_enroll,
    today_for_eligibility,
)
from nemid_app_backend.exceptions import (
    AlreadyEnrolledError,
    InvalidActivationCodeError,
    InvalidCprError,
    UnderageError,
    ValidationError,
)
from nemid_app_backend.secrets import keyed_hash

pytestmark = pytest.mark.django_db

# --- CPR -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seventh", "yy", "century"),
    [
        (0, 0, 1900), (3, 99, 1900), (1, 57, 1900),
        (4, 0, 2000), (4, 36, 2000), (4, 37, 1900), (9, 36, 2000), (9, 37, 1900), (9, 99, 1900),
        (5, 0, 2000), (5, 57, 2000), (5, 58, 1800), (8, 57, 2000), (8, 58, 1800), (6, 99, 1800), (7, 10, 2000),
    ],
)  # fmt: skip
def test_century_table(seventh, yy, century):
    assert century_for(seventh, yy) == century


@pytest.mark.parametrize(
    ("value", "born"),
    [
        ("010190-1234", datetime.date(1990, 1, 1)),
        ("0101901234", datetime.date(1990, 1, 1)),
        ("311236-4000", datetime.date(2036, 12, 31)),
        ("311237-4000", datetime.date(1937, 12, 31)),
        ("150557-5000", datetime.date(2057, 5, 15)),
        ("150558-8000", datetime.date(1858, 5, 15)),
        ("290200-4321", datetime.date(2000, 2, 29)),  # a leap day that exists
        ("010100-9999", datetime.date(2000, 1, 1)),
    ],
)
def test_cpr_parsing(value, born):
    assert parse_cpr(value).birth_date == born
    assert parse_cpr(value).masked == value[:6] + "-XXXX"


@pytest.mark.parametrize(
    "value",
    [
        "290201-1234",
        "320190-1234",
        "011390-1234",
        "000190-1234",
        "01019-1234",
        "010190 1234",
        "010190--1234",
        "abcdefghij",
        "",
        "01019012345",
    ],
)
def test_invalid_cpr_numbers(value):
    with pytest.raises(CprError):
        parse_cpr(value)


def test_no_modulus_11_check():
    # 0101901235 fails modulus 11, and is valid since 2007.
    assert parse_cpr("010190-1235").birth_date == datetime.date(1990, 1, 1)


def test_age_on_birthday():
    assert age_on(datetime.date(2000, 6, 15), datetime.date(2015, 6, 15)) == 15
    assert age_on(datetime.date(2000, 6, 15), datetime.date(2015, 6, 14)) == 14
    assert age_on(datetime.date(2000, 2, 29), datetime.date(2015, 2, 28)) == 14
    assert age_on(datetime.date(2000, 2, 29), datetime.date(2015, 3, 1)) == 15


# --- eligibility ------------------------------------------------------------------------------


@pytest.fixture
def today(monkeypatch):  # type: ignore[no-untyped-def]
    day = datetime.date(2026, 6, 15)
    monkeypatch.setattr(services, "today_for_eligibility", lambda: day)
    return day


def test_fifteenth_birthday_today_is_eligible(today):
    citizen, _, _ = citizen_enroll(cpr="150611-4000", name="Ida Jensen", actor="test")  # born 2011-06-15
    assert citizen.birth_date == datetime.date(2011, 6, 15)


def test_fifteenth_birthday_tomorrow_is_underage(today):
    with pytest.raises(UnderageError):
        citizen_enroll(cpr="160611-4000", name="Ida Jensen", actor="test")
    assert not Citizen.objects.exists()


def test_today_is_the_copenhagen_date(monkeypatch):
    # 2026-06-14 22:30 UTC is already 2026-06-15 00:30 in Copenhagen (CEST).
    monkeypatch.setattr(timezone, "now", lambda: datetime.datetime(2026, 6, 14, 22, 30, tzinfo=datetime.UTC))
    assert today_for_eligibility() == datetime.date(2026, 6, 15)
    monkeypatch.setattr(timezone, "now", lambda: datetime.datetime(2026, 1, 14, 22, 59, tzinfo=datetime.UTC))
    assert today_for_eligibility() == datetime.date(2026, 1, 14)


# --- enrollment --------------------------------------------------------------------------------


def test_enrollment_stores_no_cpr_in_clear():
    citizen, code, expires_at = citizen_enroll(cpr="010190-1234", name="  Jens   Hansen ", actor="test")
    assert re.fullmatch(r"[1-9]\d{9}", citizen.user_id)
    assert citizen.name == "Jens Hansen"
    assert citizen.cpr_masked == "010190-XXXX"
    assert citizen.cpr_hash == keyed_hash("cpr", "0101901234")
    assert citizen.birth_date == datetime.date(1990, 1, 1)
    for value in Citizen.objects.values().get(pk=citizen.pk).values():
        assert "0101901234" not in str(value) and "1234" != str(value)
    assert code.replace("-", "") not in str(list(ActivationCode.objects.values()))
    audit = AuditEntry.objects.get(action="citizen.enrolled")
    assert audit.object_id == citizen.user_id and "1234" not in str(audit.data)
    assert expires_at - timezone.now() > datetime.timedelta(days=6, hours=23)
    assert expires_at - timezone.now() <= datetime.timedelta(days=7)


def test_user_ids_are_random_and_not_derived_from_the_cpr():
    first, _, _ = citizen_enroll(cpr="010190-1234", name="A", actor="test")
    second, _, _ = citizen_enroll(cpr="010190-1235", name="B", actor="test")
    assert first.user_id != second.user_id
    assert first.user_id != "0101901234" and second.user_id != "0101901235"


def test_user_id_collision_is_retried(monkeypatch):
    existing, _, _ = citizen_enroll(cpr="010190-1234", name="A", actor="test")
    values = iter([existing.user_id, existing.user_id, "9999999999"])
    monkeypatch.setattr(services, "_new_user_id", lambda: next(values))
    citizen, _, _ = citizen_enroll(cpr="020190-1234", name="B", actor="test")
    assert citizen.user_id == "9999999999"


@pytest.mark.parametrize("spelling", ["0101901234", "010190-1234", " 010190-1234 "])
def test_already_enrolled_whatever_the_spelling(spelling):
    citizen_enroll(cpr="010190-1234", name="Jens Hansen", actor="test")
    with pytest.raises(AlreadyEnrolledError):
        citizen_enroll(cpr=spelling, name="Someone Else", actor="test")


@pytest.mark.parametrize("cpr", [None, 101901234, "010190-123", "٠١٠١٩٠١٢٣٤", "0" * 1000, "310290-1234"])
def test_invalid_cpr_on_enrollment(cpr):
    with pytest.raises(InvalidCprError):
        citizen_enroll(cpr=cpr, name="Jens Hansen", actor="test")


@pytest.mark.parametrize("name", [None, "", "   ", "x" * 201, "Jens\x00Hansen", 5])
def test_invalid_names(name):
    with pytest.raises(ValidationError):
        citizen_enroll(cpr="010190-1234", name=name, actor="test")


# --- activation codes -----------------------------------------------------------------------------


def test_activation_code_shape_and_storage(citizen):
    code, row = activation_code_issue(citizen=citizen, actor="operator")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)  # 16 x 5 bits = 80 bits
    assert row.code_hash == keyed_hash("activation-code", code.replace("-", ""))
    assert code not in str(ActivationCode.objects.values().get(pk=row.pk))
    assert row.created_by == "operator"
    assert AuditEntry.objects.filter(action="activation_code.issued", object_id=citizen.user_id).exists()


def test_codes_are_distinct(citizen):
    codes = {activation_code_issue(citizen=citizen, actor="t")[0] for _ in range(50)}
    assert len(codes) == 50


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS"),
        ("ABCD EFGH JKMN PQRS", "ABCDEFGHJKMNPQRS"),
        ("ABCDEFGHJKMNPQRS", "ABCDEFGHJKMNPQRS"),
        ("0O1I-L000-0000-0000", "0011100000000000"),
        ("ABCD-EFGH-JKMN-PQR", None),
        ("ABCD-EFGH-JKMN-PQRU", None),
        ("ABCD-EFGH-JKMN-PQRS-T", None),
        (None, None),
        (12, None),
        ("A" * 100, None),
    ],
)
def test_code_normalisation(typed, expected):
    assert activation_code_normalize(typed) == expected


def test_expiry_setting(citizen):
    with override_settings(NEMID_ACTIVATION_CODE_TTL=60):
        _, row = activation_code_issue(citizen=citizen, actor="t")
    assert row.expires_at - row.created_at < datetime.timedelta(seconds=61)


def test_unknown_used_expired_codes_are_alike(citizen, monkeypatch):
    code, row = activation_code_issue(citizen=citizen, actor="t")
    assert activation_code_lock_usable(code=code.lower()).pk == row.pk
    later = timezone.now() + datetime.timedelta(days=7, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with pytest.raises(InvalidActivationCodeError):
        activation_code_lock_usable(code=code)
    with pytest.raises(InvalidActivationCodeError):
        activation_code_lock_usable(code="ABCD-EFGH-JKMN-PQRS")


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrollments_of_one_cpr_number_enroll_once():
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def enroll() -> None:
        try:
            barrier.wait()
            citizen_enroll(cpr="010190-1234", name="Jens Hansen", actor="test")
            outcomes.append("enrolled")
        except AlreadyEnrolledError:
            outcomes.append("already_enrolled")
        finally:
            connection.close()

    threads = [threading.Thread(target=enroll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_enrolled"] * 3 + ["enrolled"]
    assert Citizen.objects.count() == 1
