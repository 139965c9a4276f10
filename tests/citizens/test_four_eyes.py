"""Four eyes on activation codes from the admin: one operator requests, another who holds
citizens.approve_activation_code approves (and sees the code once) or rejects; all audited."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from citizens import services
from citizens.models import ActivationCode, ActivationCodeRequest, Citizen
from citizens.services import (
    activation_code_request_approve,
    activation_code_request_cancel,
    activation_code_request_create,
    activation_code_request_reject,
)
from devices.models import Device
from nemid_app_backend.exceptions import ApplicationError
from nemid_app_backend.secrets import keyed_hash
from tests.conftest import at_once, staff_login
from tests.factories import CitizenFactory
from tests.phone import Phone

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
REQUESTER_PERMISSIONS = ["view_citizen", "change_citizen", "add_citizen", "view_activationcoderequest"]
APPROVER_PERMISSIONS = ["view_citizen", "view_activationcoderequest", "approve_activation_code"]


def make_operator(django_user_model, username: str, permissions: list[str] | None = None, *, superuser: bool = False):  # type: ignore[no-untyped-def]
    if superuser:
        return django_user_model.objects.create_superuser(username, f"{username}@example.com", "pw")
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="citizens", codename__in=permissions or []))
    return django_user_model.objects.get(pk=user.pk)  # a fresh object: no cached permissions


@pytest.fixture
def alice(django_user_model):  # type: ignore[no-untyped-def]
    """The requesting operator: a superuser, who still may not approve her own requests."""
    return make_operator(django_user_model, "alice", superuser=True)


@pytest.fixture
def bob(django_user_model):  # type: ignore[no-untyped-def]
    """A second operator in the approvers' group."""
    return make_operator(django_user_model, "bob", APPROVER_PERMISSIONS)


@pytest.fixture
def carol(django_user_model):  # type: ignore[no-untyped-def]
    """An operator who may request codes but not approve them."""
    return make_operator(django_user_model, "carol", REQUESTER_PERMISSIONS)


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    return staff_login(Client(), user)


def request_code(client: Client, citizen: Citizen, reason: str = "New phone; identity checked at the desk") -> None:
    response = client.post(reverse("admin:citizens_citizen_request_activation_code") + f"?ids={citizen.pk}", {"reason": reason})
    assert response.status_code == 302, response.content.decode()[:2000]


def approve(client: Client, code_request: ActivationCodeRequest):  # type: ignore[no-untyped-def]
    return client.post(reverse("admin:citizens_activationcoderequest_approve", args=[code_request.pk]), follow=True)


def register_device(code: str) -> int:
    phone = Phone()
    body = {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Pixel 8",
        "platform": "android",
        "push": {"provider": "fcm", "token": "fcm-registration-token"},
        "proof": phone.registration_proof(code),
    }
    return APIClient().post("/api/v1/devices", body, format="json").status_code


def test_a_request_makes_no_code_and_is_shown_on_the_citizens_page(alice, citizen):
    client = signed_in(alice)
    action = client.post(
        reverse("admin:citizens_citizen_changelist"), {"action": "request_activation_codes", "_selected_action": [citizen.pk]}
    )
    assert action.status_code == 302 and reverse("admin:citizens_citizen_request_activation_code") in action["Location"]
    form = client.get(action["Location"])
    assert form.status_code == 200 and "Reason" in form.content.decode() and not CODE_RE.search(form.content.decode())
    response = client.post(action["Location"], {"reason": "New phone; identity checked at the desk"}, follow=True)
    html = response.content.decode()
    assert "another operator" in html and not CODE_RE.search(html)
    assert not ActivationCode.objects.exists()
    code_request = ActivationCodeRequest.objects.get()
    assert (code_request.citizen, code_request.requested_by, code_request.status) == (citizen, alice, "pending")
    assert code_request.expires_at - code_request.requested_at == pytest.approx(
        datetime.timedelta(hours=24), abs=datetime.timedelta(seconds=5)
    )
    entry = AuditEntry.objects.get(action="activation_code.requested")
    assert entry.actor == "admin:alice" and entry.object_id == citizen.user_id
    assert entry.data["reason"] == "New phone; identity checked at the desk" and entry.data["requested_by"] == "alice"
    page = client.get(reverse("admin:citizens_citizen_change", args=[citizen.pk])).content.decode()
    assert f"#{code_request.pk} requested by alice" in page and "Request activation code" in page


def test_a_reason_is_required(alice, citizen):
    client = signed_in(alice)
    url = reverse("admin:citizens_citizen_request_activation_code") + f"?ids={citizen.pk}"
    for reason in ("", "   ", "bell\x07"):
        response = client.post(url, {"reason": reason})
        assert response.status_code == 200
    assert not ActivationCodeRequest.objects.exists() and not AuditEntry.objects.filter(action__startswith="activation").exists()
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_create(citizen=citizen, reason="", operator=alice, actor="admin:alice")
    assert refused.value.code == "validation_error"


def test_the_old_one_operator_paths_are_gone(alice, citizen):
    client = signed_in(alice)
    with pytest.raises(NoReverseMatch):
        reverse("admin:citizens_citizen_issue_activation_code", args=[citizen.pk])
    client.post(
        reverse("admin:citizens_citizen_changelist"), {"action": "issue_activation_codes", "_selected_action": [citizen.pk]}
    )
    old_button = client.post(f"/admin/citizens/citizen/{citizen.pk}/issue-activation-code/")
    assert old_button.status_code in (302, 404) and not CODE_RE.search(old_button.content.decode())
    assert not ActivationCode.objects.exists() and not ActivationCodeRequest.objects.exists()


def test_the_requester_cannot_approve_or_reject_even_as_superuser(alice, citizen):
    client = signed_in(alice)
    request_code(client, citizen)
    code_request = ActivationCodeRequest.objects.get()
    response = approve(client, code_request)
    html = response.content.decode()
    assert "cannot decide their own" in html and not CODE_RE.search(html)
    client.post(reverse("admin:citizens_activationcoderequest_reject", args=[code_request.pk]))
    changelist = client.post(
        reverse("admin:citizens_activationcoderequest_changelist"),
        {"action": "approve_requests", "_selected_action": [code_request.pk]},
        follow=True,
    )
    assert "cannot decide their own" in changelist.content.decode()
    code_request.refresh_from_db()
    assert code_request.status == "pending" and code_request.decided_by is None
    assert not ActivationCode.objects.exists()
    # The request's own page offers no approval to its requester, and says why.
    page = client.get(reverse("admin:citizens_activationcoderequest_change", args=[code_request.pk])).content.decode()
    assert "Approve and show the code" not in page and "cannot decide their own" in page and "Cancel my request" in page
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_approve(request_id=code_request.pk, operator=alice, actor="admin:alice")
    assert refused.value.code == "own_activation_code_request" and refused.value.http_status == 403


def test_an_operator_without_the_permission_cannot_approve(alice, carol, citizen):
    request_code(signed_in(alice), citizen)
    code_request = ActivationCodeRequest.objects.get()
    client = signed_in(carol)
    listing = client.get(reverse("admin:citizens_activationcoderequest_changelist")).content.decode()
    assert str(citizen.user_id) in listing and "approve_requests" not in listing and "reject_requests" not in listing
    response = approve(client, code_request)
    assert "citizens.approve_activation_code" in response.content.decode() and not CODE_RE.search(response.content.decode())
    client.post(reverse("admin:citizens_activationcoderequest_reject", args=[code_request.pk]))
    forged_action = client.post(
        reverse("admin:citizens_activationcoderequest_changelist"),
        {"action": "approve_requests", "_selected_action": [code_request.pk]},
    )
    assert not CODE_RE.search(forged_action.content.decode())
    code_request.refresh_from_db()
    assert code_request.status == "pending" and not ActivationCode.objects.exists()
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_approve(request_id=code_request.pk, operator=carol, actor="admin:carol")
    assert refused.value.code == "activation_code_approver_required" and refused.value.http_status == 403


def test_a_second_permitted_operator_approves_and_sees_the_code_once(alice, bob, citizen):
    request_code(signed_in(alice), citizen)
    code_request = ActivationCodeRequest.objects.get()
    client = signed_in(bob)
    listing = client.get(reverse("admin:citizens_activationcoderequest_changelist"), {"state": "awaiting"}).content.decode()
    assert "approve_requests" in listing and citizen.user_id in listing
    page = client.get(reverse("admin:citizens_activationcoderequest_change", args=[code_request.pk])).content.decode()
    assert "Approve and show the code" in page and "Reject" in page and "Cancel my request" not in page

    response = client.post(reverse("admin:citizens_activationcoderequest_approve", args=[code_request.pk]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    code = CODE_RE.search(html).group(0)
    assert "alice" in html  # who asked, so bob knows whom the request came from
    row = ActivationCode.objects.get(citizen=citizen)
    assert row.code_hash == keyed_hash("activation-code", code.replace("-", "")) and row.created_by == "admin:bob"
    code_request.refresh_from_db()
    assert (code_request.status, code_request.decided_by, code_request.activation_code) == ("approved", bob, row)
    assert code_request.decided_at is not None

    approved = AuditEntry.objects.get(action="activation_code.request_approved")
    assert approved.actor == "admin:bob" and approved.object_id == citizen.user_id
    assert approved.data["requested_by"] == "alice" and approved.data["decided_by"] == "bob"
    issued = AuditEntry.objects.get(action="activation_code.issued")
    assert issued.actor == "admin:bob" and issued.data["via"] == "four_eyes"
    assert (issued.data["requested_by"], issued.data["approved_by"]) == ("alice", "bob")

    # shown once: neither the request's nor the citizen's page shows it again, nor does a second approval
    for url in (
        reverse("admin:citizens_activationcoderequest_change", args=[code_request.pk]),
        reverse("admin:citizens_citizen_change", args=[citizen.pk]),
    ):
        assert code not in client.get(url).content.decode()
    again = approve(client, code_request).content.decode()
    assert "already been decided" in again and not CODE_RE.search(again)
    assert ActivationCode.objects.count() == 1

    assert register_device(code) == 201
    assert Device.objects.get().citizen == citizen


def test_enrollment_in_the_admin_waits_for_the_second_operator(alice, bob):
    client = signed_in(alice)
    response = client.post(
        reverse("admin:citizens_citizen_add"),
        {"cpr": "010190-1234", "name": "Jens Hansen", "reason": "Enrolled at the desk, passport checked"},
        follow=True,
    )
    html = response.content.decode()
    citizen = Citizen.objects.get()
    assert citizen.user_id in html and "must approve" in html and not CODE_RE.search(html)
    assert "0101901234" not in html and "010190-1234" not in html
    assert not ActivationCode.objects.exists()
    code_request = ActivationCodeRequest.objects.get(citizen=citizen)
    assert code_request.reason == "Enrolled at the desk, passport checked" and code_request.requested_by == alice
    assert AuditEntry.objects.get(action="citizen.enrolled").actor == "admin:alice"
    assert AuditEntry.objects.get(action="activation_code.requested").actor == "admin:alice"
    assert "cannot decide their own" in approve(client, code_request).content.decode()

    approved = approve(signed_in(bob), code_request)
    code = CODE_RE.search(approved.content.decode()).group(0)
    assert register_device(code) == 201


def test_enrollment_without_a_reason_enrolls_no_one(alice):
    response = signed_in(alice).post(reverse("admin:citizens_citizen_add"), {"cpr": "010190-1234", "name": "Jens Hansen"})
    assert response.status_code == 200 and "required" in response.content.decode()
    assert not Citizen.objects.exists() and not ActivationCodeRequest.objects.exists()


def test_rejection_makes_no_code_and_is_final(alice, bob, citizen):
    request_code(signed_in(alice), citizen)
    code_request = ActivationCodeRequest.objects.get()
    client = signed_in(bob)
    response = client.post(reverse("admin:citizens_activationcoderequest_reject", args=[code_request.pk]), follow=True)
    assert "rejected" in response.content.decode()
    code_request.refresh_from_db()
    assert (code_request.status, code_request.decided_by) == ("rejected", bob)
    assert not ActivationCode.objects.exists()
    entry = AuditEntry.objects.get(action="activation_code.request_rejected")
    assert entry.actor == "admin:bob" and (entry.data["requested_by"], entry.data["decided_by"]) == ("alice", "bob")
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_approve(request_id=code_request.pk, operator=bob, actor="admin:bob")
    assert refused.value.code == "activation_code_request_not_pending" and refused.value.http_status == 409
    assert not ActivationCode.objects.exists()


def test_an_expired_request_cannot_be_approved_and_no_longer_blocks_a_new_one(alice, bob, citizen):
    request_code(signed_in(alice), citizen)
    code_request = ActivationCodeRequest.objects.get()
    ActivationCodeRequest.objects.filter(pk=code_request.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    client = signed_in(bob)
    awaiting = client.get(reverse("admin:citizens_activationcoderequest_changelist"), {"state": "awaiting"}).content.decode()
    assert "0 activation code requests" in awaiting
    expired = client.get(reverse("admin:citizens_activationcoderequest_changelist"), {"state": "expired"}).content.decode()
    assert "1 activation code request" in expired
    response = approve(client, code_request).content.decode()
    assert "has expired" in response and not CODE_RE.search(response)
    code_request.refresh_from_db()
    assert code_request.status == "expired" and code_request.decided_by is None
    assert not ActivationCode.objects.exists()
    assert AuditEntry.objects.get(action="activation_code.request_expired").actor == "system:lazy-expiry"
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_approve(request_id=code_request.pk, operator=bob, actor="admin:bob")
    assert refused.value.code == "activation_code_request_not_pending"

    # a stale pending request (never touched since it expired) is recorded expired by the next request
    second = activation_code_request_create(citizen=citizen, reason="Second try", operator=alice, actor="admin:alice")
    ActivationCodeRequest.objects.filter(pk=second.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    third = activation_code_request_create(citizen=citizen, reason="Third try", operator=alice, actor="admin:alice")
    second.refresh_from_db()
    assert second.status == "expired" and third.status == "pending"


def test_the_expiry_of_a_request_is_a_setting(settings, alice, citizen):
    settings.NEMID_ACTIVATION_CODE_REQUEST_TTL = 600
    code_request = activation_code_request_create(citizen=citizen, reason="r", operator=alice, actor="admin:alice")
    assert code_request.expires_at - code_request.requested_at == pytest.approx(
        datetime.timedelta(minutes=10), abs=datetime.timedelta(seconds=5)
    )


def test_an_expired_request_refuses_with_its_own_code(alice, bob, citizen):
    code_request = activation_code_request_create(citizen=citizen, reason="r", operator=alice, actor="admin:alice")
    ActivationCodeRequest.objects.filter(pk=code_request.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_reject(request_id=code_request.pk, operator=bob, actor="admin:bob")
    assert refused.value.code == "activation_code_request_expired" and refused.value.http_status == 410
    code_request.refresh_from_db()
    assert code_request.status == "expired"  # recorded, though the decision was refused


def test_one_request_waits_per_citizen(alice, carol, citizen):
    request_code(signed_in(alice), citizen)
    response = signed_in(carol).post(
        reverse("admin:citizens_citizen_request_activation_code") + f"?ids={citizen.pk}", {"reason": "again"}, follow=True
    )
    assert "already waiting for approval" in response.content.decode()
    assert ActivationCodeRequest.objects.count() == 1
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_create(citizen=citizen, reason="again", operator=carol, actor="admin:carol")
    assert refused.value.code == "activation_code_request_pending" and refused.value.http_status == 409


def test_the_requester_cancels_and_no_one_else_can(alice, bob, citizen):
    request_code(signed_in(alice), citizen)
    code_request = ActivationCodeRequest.objects.get()
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_cancel(request_id=code_request.pk, operator=bob, actor="admin:bob")
    assert refused.value.code == "forbidden"
    response = signed_in(alice).post(reverse("admin:citizens_activationcoderequest_cancel", args=[code_request.pk]), follow=True)
    assert "cancelled" in response.content.decode()
    code_request.refresh_from_db()
    assert (code_request.status, code_request.decided_by) == ("cancelled", alice)
    assert AuditEntry.objects.get(action="activation_code.request_cancelled").actor == "admin:alice"
    with pytest.raises(ApplicationError) as refused:
        activation_code_request_approve(request_id=code_request.pk, operator=bob, actor="admin:bob")
    assert refused.value.code == "activation_code_request_not_pending"


def test_the_approve_action_issues_a_code_per_request_and_refuses_the_rest(alice, bob, carol):
    first, second, own = CitizenFactory(), CitizenFactory(), CitizenFactory()
    mine = activation_code_request_create(citizen=first, reason="r", operator=alice, actor="admin:alice")
    theirs = activation_code_request_create(citizen=second, reason="r", operator=carol, actor="admin:carol")
    bobs = activation_code_request_create(citizen=own, reason="r", operator=bob, actor="admin:bob")
    response = signed_in(bob).post(
        reverse("admin:citizens_activationcoderequest_changelist"),
        {"action": "approve_requests", "_selected_action": [mine.pk, theirs.pk, bobs.pk]},
    )
    assert response.status_code == 200
    assert len(set(CODE_RE.findall(response.content.decode()))) == 2
    assert set(ActivationCode.objects.values_list("citizen", flat=True)) == {first.pk, second.pk}
    bobs.refresh_from_db()
    assert bobs.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_make_one_code(django_user_model, monkeypatch):
    """Two operators approve the same request at the same moment: one gets the code, the other is
    told it is decided. The code's making is slowed so that, without the request's row lock, both
    would pass the pending check before either commits. On PostgreSQL the threads meet at that lock;
    on SQLite (transactions begin IMMEDIATE) at the database's one write lock."""
    requester = make_operator(django_user_model, "alice", superuser=True)
    approvers = [make_operator(django_user_model, name, APPROVER_PERMISSIONS) for name in ("bob", "dave")]
    citizen = CitizenFactory()
    code_request = activation_code_request_create(citizen=citizen, reason="r", operator=requester, actor="admin:alice")
    generate = services.activation_code_generate

    def slow_generate() -> str:
        time.sleep(0.3)
        return generate()

    monkeypatch.setattr(services, "activation_code_generate", slow_generate)

    def approve_as(operator) -> str:  # type: ignore[no-untyped-def]
        try:
            activation_code_request_approve(request_id=code_request.pk, operator=operator, actor=f"admin:{operator.username}")
        except ApplicationError as error:
            return error.code
        return "code"

    outcomes = at_once(approve_as, approvers)
    assert sorted(outcomes) == ["activation_code_request_not_pending", "code"]
    assert ActivationCode.objects.filter(citizen=citizen).count() == 1
    assert AuditEntry.objects.filter(action="activation_code.request_approved").count() == 1
    assert AuditEntry.objects.filter(action="activation_code.issued").count() == 1
    code_request.refresh_from_db()
    assert code_request.status == "approved" and code_request.activation_code is not None
