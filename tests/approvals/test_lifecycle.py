"""The state machine, expiry (lazy and by the beat task), cancel and the RP's reads."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.db import transaction
from django.utils import timezone

from approvals import services
from approvals.models import ApprovalRequest
from approvals.tasks import expire_overdue_approvals
from audit.models import AuditEntry
from nemid_app_backend.exceptions import ApprovalNotPendingError
from tests.approvals.conftest import create, decide, login_body, payment_body
from tests.approvals.test_create import assert_problem
from tests.factories import DeviceFactory, RelyingPartyFactory

pytestmark = pytest.mark.django_db

Status = ApprovalRequest.Status


def overdue(approval: dict, seconds: int = 1) -> None:
    ApprovalRequest.objects.filter(id=approval["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=seconds))


# --- the transition table ---------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), list(itertools.product(Status.values, Status.values)))
def test_transition_table(source, target):
    allowed = source == Status.PENDING and target != Status.PENDING
    assert ApprovalRequest.can_transition(source, target) is allowed


@pytest.mark.parametrize(("source", "target"), list(itertools.product(Status.values, Status.values)))
def test_the_transition_function_enforces_the_table(rp_api, citizen, device, source, target, monkeypatch):
    from approvals import events

    finalized = []
    monkeypatch.setattr(events, "approval_request_finalized", lambda approval: finalized.append(approval.status))
    approval = ApprovalRequest.objects.get(id=create(rp_api, login_body(citizen)).json()["id"])
    ApprovalRequest.objects.filter(id=approval.id).update(status=source)
    approval.refresh_from_db()
    if target in (Status.APPROVED, Status.DENIED):
        approval.decided_at = timezone.now()
        approval.decided_by_device = device
    audit = AuditEntry.objects.filter(object_type="approval_request", object_id=str(approval.id))
    audit_before = audit.count()
    with transaction.atomic():
        if ApprovalRequest.can_transition(source, target):
            services._approval_transition(approval, target, actor="test")
            assert finalized == [target]
            assert audit.count() == audit_before + 1
            assert ApprovalRequest.objects.get(id=approval.id).status == target
        else:
            with pytest.raises(ApprovalNotPendingError) as raised:
                services._approval_transition(approval, target, actor="test")
            assert raised.value.extra["approval_status"] == source
            assert finalized == [] and audit.count() == audit_before
            assert ApprovalRequest.objects.get(id=approval.id).status == source


def test_every_final_transition_calls_the_finalized_hook_inside_its_transaction(rp_api, citizen, device, monkeypatch):
    from django.db import connection

    from approvals import events

    calls = []
    monkeypatch.setattr(
        events, "approval_request_finalized", lambda approval: calls.append((approval.status, connection.in_atomic_block))
    )
    approvals = [create(rp_api, payment_body(citizen)).json() for _ in range(3)]
    decide(device, approvals[0])
    decide(device, approvals[1], "deny")
    rp_api.post(f"/api/v1/approvals/{approvals[2]['id']}/cancel")
    expired = create(rp_api, payment_body(citizen)).json()
    overdue(expired)
    services.approvals_expire_overdue()
    failed = create(rp_api, payment_body(citizen)).json()
    decide(device, failed, binding_message="tampered")
    assert calls == [(s, True) for s in ("approved", "denied", "cancelled", "expired", "failed")]


# --- expiry -----------------------------------------------------------------------------------


def test_lazy_expiry_on_read(rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    overdue(approval)
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "pending"
    body = rp_api.get(f"/api/v1/approvals/{approval['id']}").json()
    assert body["status"] == "expired" and body["result"] is None and body["decided_at"] is None
    assert AuditEntry.objects.filter(action="approval.expired", object_id=approval["id"]).count() == 1
    rp_api.get(f"/api/v1/approvals/{approval['id']}")
    assert AuditEntry.objects.filter(action="approval.expired", object_id=approval["id"]).count() == 1


def test_expiry_task_closes_overdue_requests_in_batches_and_is_idempotent(rp_api, settings):
    settings.NEMID_EXPIRY_BATCH_SIZE = 2
    devices = [DeviceFactory() for _ in range(3)]
    late = [create(rp_api, login_body(d.citizen)).json() for d in devices for _ in range(2)]
    current = create(rp_api, login_body(devices[0].citizen)).json()
    for approval in late:
        overdue(approval)
    assert expire_overdue_approvals.apply().get() == len(late)  # run as a worker runs it, in batches of 2
    assert {ApprovalRequest.objects.get(id=a["id"]).status for a in late} == {"expired"}
    assert ApprovalRequest.objects.get(id=current["id"]).status == "pending"
    assert AuditEntry.objects.filter(action="approval.expired").count() == len(late)
    assert expire_overdue_approvals() == 0
    assert AuditEntry.objects.filter(action="approval.expired").count() == len(late)


def test_expiry_task_forgets_old_idempotency_keys(rp_api, citizen, device):
    from approvals.models import IdempotencyRecord

    create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="old")
    create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - datetime.timedelta(days=2))
    expire_overdue_approvals()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_expired_request_cannot_be_decided_or_cancelled(rp_api, citizen, device):
    approval = create(rp_api, payment_body(citizen)).json()
    overdue(approval)
    services.approvals_expire_overdue()
    body = assert_problem(rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 409, "approval_not_pending")
    assert body["approval_status"] == "expired"


# --- cancel -----------------------------------------------------------------------------------


def test_cancel(rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    response = rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["id"] == approval["id"]
    assert AuditEntry.objects.filter(action="approval.cancelled", object_id=approval["id"]).exists()
    body = assert_problem(rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 409, "approval_not_pending")
    assert body["approval_status"] == "cancelled"


def test_cancel_overdue_records_expiry(rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    overdue(approval)
    body = assert_problem(rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 409, "approval_not_pending")
    assert body["approval_status"] == "expired"
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "expired"


def test_cancel_of_a_decided_request(rp_api, citizen, device):
    approval = create(rp_api, payment_body(citizen)).json()
    decide(device, approval)
    body = assert_problem(rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 409, "approval_not_pending")
    assert body["approval_status"] == "approved"


def test_cancel_is_only_for_the_owner(rp_api, citizen, device, api):
    approval = create(rp_api, login_body(citizen)).json()
    other = RelyingPartyFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    assert_problem(api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 404, "not_found")
    assert_problem(rp_api.post("/api/v1/approvals/not-a-uuid/cancel"), 404, "not_found")
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "pending"
    api.credentials()
    assert_problem(api.post(f"/api/v1/approvals/{approval['id']}/cancel"), 401, "invalid_api_key")


# --- reads ------------------------------------------------------------------------------------


def test_get_is_only_for_the_owner(rp_api, citizen, device, api):
    approval = create(rp_api, login_body(citizen)).json()
    assert rp_api.get(f"/api/v1/approvals/{approval['id']}").json() == approval
    other = RelyingPartyFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    assert_problem(api.get(f"/api/v1/approvals/{approval['id']}"), 404, "not_found")
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "x" * 500]:
        assert_problem(rp_api.get(f"/api/v1/approvals/{bad}"), 404, "not_found")
    api.credentials()
    assert_problem(api.get(f"/api/v1/approvals/{approval['id']}"), 401, "invalid_api_key")


def test_methods_not_allowed(rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    assert_problem(rp_api.get("/api/v1/approvals"), 405, "method_not_allowed")
    assert_problem(rp_api.delete(f"/api/v1/approvals/{approval['id']}"), 405, "method_not_allowed")
    assert_problem(rp_api.get(f"/api/v1/approvals/{approval['id']}/cancel"), 405, "method_not_allowed")
