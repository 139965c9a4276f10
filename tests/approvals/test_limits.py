"""docs/contract §7: failed attempts, the lock, its reset, the operator's unlock and fraud reports."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from citizens.locks import citizen_unlock
from citizens.models import Citizen
from tests.approvals.conftest import create, decide, device_view_of, login_body, payment_body, post_decision
from tests.approvals.test_create import assert_problem

pytestmark = pytest.mark.django_db


def fresh(citizen) -> Citizen:
    return Citizen.objects.get(pk=citizen.pk)


def fail_once(rp_api, citizen, device) -> None:
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval, binding_message="tampered").status_code == 422


def test_five_consecutive_failures_lock_the_citizen(rp_api, citizen, device):
    for _ in range(4):
        fail_once(rp_api, citizen, device)
    assert fresh(citizen).failed_attempts == 4 and fresh(citizen).locked_until is None
    fail_once(rp_api, citizen, device)
    locked = fresh(citizen)
    assert locked.locked_until is not None
    remaining = (locked.locked_until - timezone.now()).total_seconds()
    assert 3590 < remaining <= 3600
    entry = AuditEntry.objects.get(action="citizen.locked", object_id=citizen.user_id)
    assert entry.data["failed_attempts"] == 5
    # New requests and decisions are refused while locked.
    response = create(rp_api, payment_body(citizen))
    assert_problem(response, 423, "user_locked")
    assert 3590 < int(response["Retry-After"]) <= 3600


def test_decisions_are_refused_while_locked(rp_api, citizen, device):
    approval = create(rp_api, payment_body(citizen)).json()
    signed = device.phone.sign_decision(device_view_of(device, approval["id"]))
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + datetime.timedelta(minutes=5))
    assert_problem(post_decision(device, approval["id"], signed), 423, "user_locked")
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "pending"
    assert fresh(citizen).failed_attempts == 0  # refusing is not counting


def test_invalid_signatures_count_towards_the_lock(rp_api, citizen, device, settings):
    settings.NEMID_LOCK_THRESHOLD = 3
    approval = create(rp_api, payment_body(citizen)).json()
    for _ in range(3):
        assert post_decision(device, approval["id"], "not.a.jws").status_code == 401
    assert fresh(citizen).locked_until is not None
    assert_problem(post_decision(device, approval["id"], "not.a.jws"), 423, "user_locked")


def test_a_valid_decision_resets_the_count(rp_api, citizen, device):
    for _ in range(4):
        fail_once(rp_api, citizen, device)
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval, "deny").status_code == 200
    assert fresh(citizen).failed_attempts == 0
    for _ in range(4):  # four more do not lock: the count is consecutive failures
        fail_once(rp_api, citizen, device)
    assert fresh(citizen).locked_until is None


def test_the_lock_runs_out_after_the_period(rp_api, citizen, device, settings):
    settings.NEMID_LOCK_PERIOD = 60
    for _ in range(5):
        fail_once(rp_api, citizen, device)
    locked_until = fresh(citizen).locked_until
    assert 55 < (locked_until - timezone.now()).total_seconds() <= 60
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() - datetime.timedelta(seconds=1))
    assert create(rp_api, payment_body(citizen)).status_code == 201
    assert fresh(citizen).failed_attempts == 0  # a fresh set of attempts after the lock


def test_operator_unlock_clears_lock_count_and_fraud_block(rp_api, citizen, device):
    Citizen.objects.filter(pk=citizen.pk).update(
        failed_attempts=3,
        locked_until=timezone.now() + datetime.timedelta(hours=1),
        login_blocked_until=timezone.now() + datetime.timedelta(hours=1),
        fraud_reported_at=timezone.now(),
    )
    citizen_unlock(citizen=fresh(citizen), actor="operator:alice")
    unlocked = fresh(citizen)
    assert unlocked.locked_until is None and unlocked.login_blocked_until is None and unlocked.failed_attempts == 0
    assert unlocked.fraud_reported_at is not None  # the operators' record stays
    entry = AuditEntry.objects.get(action="citizen.unlocked")
    assert entry.actor == "operator:alice" and entry.object_id == citizen.user_id
    assert create(rp_api, login_body(citizen)).status_code == 201


def test_report_fraud_blocks_logins_for_the_lock_period(rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    assert decide(device, approval, "deny", report_fraud=True).json()["status"] == "denied"
    flagged = fresh(citizen)
    assert flagged.fraud_reported_at is not None
    assert 3590 < (flagged.login_blocked_until - timezone.now()).total_seconds() <= 3600
    assert flagged.locked_until is None
    assert ApprovalRequest.objects.get(id=approval["id"]).fraud_reported is True
    assert AuditEntry.objects.filter(action="citizen.fraud_reported", object_id=citizen.user_id).exists()
    assert_problem(create(rp_api, login_body(citizen)), 423, "user_locked")
    assert create(rp_api, payment_body(citizen)).status_code == 201  # payments are not blocked by it


@pytest.mark.parametrize(("decision", "flag"), [("approve", True), ("deny", "true"), ("deny", 1), ("deny", False)])
def test_report_fraud_needs_a_deny_and_true(rp_api, citizen, device, decision, flag):
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval, decision, report_fraud=flag).status_code == 200
    assert fresh(citizen).login_blocked_until is None
    assert ApprovalRequest.objects.get(id=approval["id"]).fraud_reported is False
