"""Races on PostgreSQL (real row locks): parallel guesses are all counted, a code is used once."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import override_settings

from citizens.models import Citizen
from citizens.services import citizen_password_set, citizen_password_verify
from keycards.models import KeyCardCode
from keycards.services import key_card_challenge, key_card_code_verify, key_card_issue
from tests.approvals.test_races import run_concurrently
from tests.factories import CitizenFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def outcome(call):  # type: ignore[no-untyped-def]
    def run() -> str:
        try:
            call()
        except Exception as exc:
            return getattr(exc, "code", repr(exc))
        return "ok"

    return run


def test_one_key_card_code_used_by_eight_at_once_is_accepted_once():
    citizen = CitizenFactory()
    codes = key_card_issue(citizen=citizen, actor="test").codes
    challenge = key_card_challenge(citizen=citizen)
    assert challenge is not None
    calls = [
        outcome(lambda: key_card_code_verify(citizen=citizen, key=challenge.key, code=codes[challenge.key])) for _ in range(8)
    ]
    results = Counter(run_concurrently(calls))
    assert results["ok"] == 1 and results["ok"] + results["invalid_credentials"] + results["too_many_attempts"] == 8, results
    assert KeyCardCode.objects.filter(card__citizen=citizen, used_at__isnull=False).count() == 1


@override_settings(NEMID_PASSWORD_FREE_FAILURES=3, NEMID_LOCK_THRESHOLD=100)
def test_parallel_password_guesses_are_all_counted_before_they_are_checked():
    citizen = CitizenFactory()
    citizen_password_set(citizen=citizen, password="blue horse eats late")
    calls = [outcome(lambda: citizen_password_verify(citizen=citizen, password="wrong wrong wrong")) for _ in range(8)]
    results = Counter(run_concurrently(calls))
    # at most the free attempts were checked; the rest were refused without a check
    assert results["invalid_credentials"] <= 3 and results["invalid_credentials"] + results["too_many_attempts"] == 8, results
    citizen = Citizen.objects.get(pk=citizen.pk)
    assert citizen.password_failures == results["invalid_credentials"]
    assert citizen.failed_attempts == results["invalid_credentials"]
