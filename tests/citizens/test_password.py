"""CONTRACT §9: the citizen's password — rules, hashing, throttle, §7 counting, audit."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.hashers import identify_hasher, make_password
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEntry
from citizens import passwords
from citizens.models import Citizen
from citizens.selectors import citizen_has_password
from citizens.services import citizen_password_set, citizen_password_verify, password_check_dummy
from nemid_app_backend import settings as production_settings
from nemid_app_backend.exceptions import (
    InvalidCredentialsError,
    InvalidCurrentPasswordError,
    TooManyAttemptsError,
    ValidationError,
    WeakPasswordError,
)
from tests.factories import CitizenFactory

pytestmark = pytest.mark.django_db

GOOD = "blue horse eats late"


def reason_of(password: str, **context) -> str | None:  # type: ignore[no-untyped-def]
    try:
        passwords.check(password, passwords.PasswordContext(**context))
    except passwords.PasswordNotUsable as exc:
        return exc.reason
    return None


# --- rules (pure) -----------------------------------------------------------------------------------


def test_at_least_8_characters_counted_as_code_points_after_nfkc():
    assert reason_of("short12") == "too_short"
    assert reason_of("sol og hav") is None
    # four characters that NFKC keeps as four, each a letter: still too short
    assert reason_of("æøåæ") == "too_short"
    # a ligature is two letters after NFKC: "ﬁ" -> "fi"
    assert passwords.normalize("ﬁsk og hav") == "fisk og hav"


def test_at_least_64_characters_are_accepted_and_256_the_limit():
    long_phrase = "en lang sætning om en hest der spiser sent om aftenen i haven bag huset"
    assert len(long_phrase) > 64
    assert reason_of(long_phrase) is None
    assert reason_of("k" * 3 + "x7q!" * 64) == "too_long"


def test_no_composition_rules():
    assert reason_of("lowercase only words here") is None
    assert reason_of("correct horse battery staple") is None


def test_blocklisted_passwords_are_refused_whatever_the_case():
    for password in ("password1", "PASSWORD1", "iloveyou", "1q2w3e4r5t", "adgangskode", "sommer2024", "Pass Word 1"):
        assert reason_of(password) == "common", password


def test_a_common_password_with_digits_or_signs_added_is_refused():
    assert reason_of("password2024!") == "common"
    assert reason_of("sommerfugl99") == "common"


def test_repeated_and_sequential_characters_are_refused():
    assert reason_of("aaaaaaaaaaaa") == "common"
    assert reason_of("abcdefghijk") == "common"
    assert reason_of("98765432") == "common"
    assert reason_of("asdfghjklæ") == "common"


def test_context_words_are_refused():
    context = {"user_id": "5123456789", "name": "Jens Hansen", "birth_date": datetime.date(1970, 3, 1)}
    assert reason_of("x5123456789y", **context) == "context"
    assert reason_of("nemid2024", **context) == "context"
    assert reason_of("MitID-hest7", **context) == "context"
    assert reason_of("JensHansen01031970", **context) == "context"
    # a context word inside a phrase of its own is fine
    assert reason_of("jens likes blue horses", **context) is None


def test_control_characters_and_lone_surrogates_are_not_text():
    assert reason_of("tab\there is bad") == "invalid"
    assert reason_of("broken \ud800 surrogate") == "invalid"
    assert reason_of(12345678) == "invalid"  # type: ignore[arg-type]


def test_the_blocklist_ships_with_the_repository():
    listed = passwords.blocklist()
    assert passwords.BLOCKLIST_PATH.is_file()
    assert len(listed) > 5000
    assert "password1" in listed and "adgangskode" in listed


# --- the production hasher ---------------------------------------------------------------------------


def test_the_production_hasher_is_argon2id():
    assert production_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=production_settings.PASSWORD_HASHERS):
        encoded = make_password("blue horse eats late")
        assert identify_hasher(encoded).algorithm == "argon2"
        assert encoded.startswith("argon2$argon2id$")


# --- set and verify -----------------------------------------------------------------------------


def test_set_then_verify_and_the_hash_is_not_the_password(citizen):
    assert not citizen_has_password(citizen=citizen)
    citizen_password_set(citizen=citizen, password=GOOD)
    citizen.refresh_from_db()
    assert citizen_has_password(citizen=citizen)
    assert GOOD not in citizen.password_hash and citizen.password_hash
    assert citizen.password_changed_at is not None
    citizen_password_verify(citizen=citizen, password=GOOD)
    with pytest.raises(InvalidCredentialsError):
        citizen_password_verify(citizen=citizen, password="blue horse eats early")
    assert AuditEntry.objects.filter(action="citizen.password_set", object_id=citizen.user_id).exists()
    assert AuditEntry.objects.filter(action="citizen.password_used", object_id=citizen.user_id).exists()
    assert AuditEntry.objects.filter(action="citizen.password_failed", object_id=citizen.user_id).exists()
    assert not AuditEntry.objects.filter(data__icontains="horse").exists()


def test_verify_normalises_like_set(citizen):
    citizen_password_set(citizen=citizen, password="ﬁsk og hav i dag")
    citizen_password_verify(citizen=citizen, password="fisk og hav i dag")


def test_weak_password_is_refused_with_a_reason(citizen):
    with pytest.raises(WeakPasswordError) as caught:
        citizen_password_set(citizen=citizen, password="password1")
    assert caught.value.extra["reason"] == "common"
    assert caught.value.code == "weak_password" and caught.value.http_status == 400
    with pytest.raises(WeakPasswordError) as caught:
        citizen_password_set(citizen=citizen, password=f"{citizen.user_id}abc")
    assert caught.value.extra["reason"] == "context"
    citizen.refresh_from_db()
    assert citizen.password_hash == ""


def test_change_needs_the_current_password(citizen):
    citizen_password_set(citizen=citizen, password=GOOD)
    with pytest.raises(ValidationError):
        citizen_password_set(citizen=citizen, password="green owl sings loud")
    with pytest.raises(InvalidCurrentPasswordError) as caught:
        citizen_password_set(citizen=citizen, password="green owl sings loud", current_password="nope nope nope")
    assert caught.value.http_status == 401 and caught.value.code == "invalid_credentials"
    citizen_password_set(citizen=citizen, password="green owl sings loud", current_password=GOOD)
    citizen_password_verify(citizen=citizen, password="green owl sings loud")
    assert AuditEntry.objects.filter(action="citizen.password_changed", object_id=citizen.user_id).exists()


def test_no_password_set_is_a_wrong_password(citizen):
    with pytest.raises(InvalidCredentialsError):
        citizen_password_verify(citizen=citizen, password=GOOD)
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1


def test_a_wrong_password_counts_toward_the_section_7_lock(citizen):
    citizen_password_set(citizen=citizen, password=GOOD)
    with pytest.raises(InvalidCredentialsError):
        citizen_password_verify(citizen=citizen, password="wrong wrong wrong")
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1
    # a right password does not reset the §7 count (only a whole authentication does)
    citizen_password_verify(citizen=citizen, password=GOOD)
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1 and citizen.password_failures == 0


@override_settings(NEMID_PASSWORD_FREE_FAILURES=3, NEMID_PASSWORD_DELAY=30, NEMID_PASSWORD_MAX_DELAY=120)
def test_growing_delays_after_wrong_passwords_never_a_lock(citizen, monkeypatch):
    citizen_password_set(citizen=citizen, password=GOOD)
    start = timezone.now()
    clock = [start]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])

    def wrong() -> None:
        with pytest.raises(InvalidCredentialsError):
            citizen_password_verify(citizen=citizen, password="wrong wrong wrong")
        Citizen.objects.filter(pk=citizen.pk).update(failed_attempts=0, locked_until=None)  # keep §7 out of this test

    wrong()
    wrong()
    wrong()  # the third: blocked for 30 s
    with pytest.raises(TooManyAttemptsError) as caught:
        citizen_password_verify(citizen=citizen, password=GOOD)  # not even checked
    assert caught.value.headers["Retry-After"] == "30"
    clock[0] = start + datetime.timedelta(seconds=30)
    wrong()  # the fourth: 60 s
    with pytest.raises(TooManyAttemptsError) as caught:
        citizen_password_verify(citizen=citizen, password=GOOD)
    assert caught.value.headers["Retry-After"] == "60"
    for _ in range(5):
        clock[0] += datetime.timedelta(seconds=200)
        wrong()
    citizen.refresh_from_db()
    # capped: the real citizen never waits more than the cap after the last failure
    assert citizen.password_blocked_until == clock[0] + datetime.timedelta(seconds=120)
    clock[0] += datetime.timedelta(seconds=120)
    citizen_password_verify(citizen=citizen, password=GOOD)
    citizen.refresh_from_db()
    assert citizen.password_failures == 0 and citizen.password_blocked_until is None


def test_a_throttled_attempt_counts_neither_way(citizen):
    citizen_password_set(citizen=citizen, password=GOOD)
    until = timezone.now() + datetime.timedelta(minutes=5)
    Citizen.objects.filter(pk=citizen.pk).update(password_blocked_until=until, password_failures=4, failed_attempts=1)
    for password in (GOOD, "wrong wrong wrong"):
        with pytest.raises(TooManyAttemptsError):
            citizen_password_verify(citizen=citizen, password=password)
    citizen.refresh_from_db()
    assert citizen.password_failures == 4 and citizen.failed_attempts == 1 and citizen.password_blocked_until == until


def test_a_locked_citizen_is_not_checked(citizen):
    citizen_password_set(citizen=citizen, password=GOOD)
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + datetime.timedelta(minutes=10))
    with pytest.raises(TooManyAttemptsError) as caught:
        citizen_password_verify(citizen=citizen, password=GOOD)
    assert 590 <= int(caught.value.headers["Retry-After"]) <= 600


def test_five_wrong_passwords_lock_the_citizen(citizen):
    citizen_password_set(citizen=citizen, password=GOOD)
    with override_settings(NEMID_PASSWORD_FREE_FAILURES=100):
        for _ in range(5):
            with pytest.raises(InvalidCredentialsError):
                citizen_password_verify(citizen=citizen, password="wrong wrong wrong")
    citizen.refresh_from_db()
    assert citizen.locked_until is not None and citizen.locked_until > timezone.now()


def test_a_hash_made_with_other_parameters_is_upgraded_on_use(citizen):
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        Citizen.objects.filter(pk=citizen.pk).update(password_hash=make_password(GOOD))
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    ):
        citizen_password_verify(citizen=citizen, password=GOOD)
    citizen.refresh_from_db()
    assert citizen.password_hash.startswith("md5$")  # the first hasher's form now


def test_dummy_check_takes_any_input():
    for value in ("x", "", None, 5, "\ud800"):
        password_check_dummy(password=value)


def test_the_operator_cannot_set_a_password():
    from django.contrib import admin

    from citizens.admin import CitizenAdmin

    citizen_admin = admin.site._registry[Citizen]
    assert isinstance(citizen_admin, CitizenAdmin)
    assert "password_hash" not in (citizen_admin.fields or ())
    assert not any("password" in name for name in citizen_admin.actions or ())


def test_factory_citizens_start_without_a_password():
    assert CitizenFactory().password_hash == ""
