"""Races on PostgreSQL (real row locks): threads with their own connections, through the HTTP API."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from tests.approvals.conftest import create, decision_path, device_view_of, login_body, payment_body
from tests.factories import DeviceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment (a barrier), each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_twenty_concurrent_decisions_from_two_devices_one_wins(rp_api, citizen, device):
    other = DeviceFactory(citizen=citizen)
    approval = create(rp_api, payment_body(citizen)).json()
    path = decision_path(approval["id"])
    signed = {
        device.id: device.phone.sign_decision(device_view_of(device, approval["id"]), "approve"),
        other.id: other.phone.sign_decision(device_view_of(other, approval["id"]), "deny"),
    }
    calls = []
    for index in range(20):
        phone_device = device if index % 2 else other
        headers = phone_device.phone.auth("POST", path)  # a fresh device token (jti) per request
        body = {"signed_decision": signed[phone_device.id]}
        calls.append(lambda headers=headers, body=body: APIClient().post(path, body, format="json", **headers))
    responses = run_concurrently(calls)
    statuses = Counter(getattr(response, "status_code", repr(response)) for response in responses)
    assert statuses == {200: 1, 409: 19}, statuses
    winner = next(response for response in responses if response.status_code == 200).json()["status"]
    final = ApprovalRequest.objects.get(id=approval["id"])
    assert final.status == winner
    assert final.result_token
    for response in responses:
        if response.status_code == 409:
            assert response.json()["approval_status"] == winner
    assert AuditEntry.objects.filter(action="approval.decided", object_id=approval["id"]).count() == 1


def test_concurrent_creations_respect_the_pending_limit(rp, citizen, device):
    def make() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
        return create(client, login_body(citizen)).status_code

    statuses = Counter(run_concurrently([make] * 10))
    assert statuses == {201: 3, 429: 7}, statuses
    assert ApprovalRequest.objects.filter(citizen=citizen, status="pending").count() == 3


def test_concurrent_requests_with_one_idempotency_key_make_one_request(rp, citizen, device):
    def make() -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
        return create(client, payment_body(citizen), HTTP_IDEMPOTENCY_KEY="order-1")

    responses = run_concurrently([make] * 8)
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert ApprovalRequest.objects.count() == 1


def test_expiry_task_and_a_decision_race_to_one_outcome(rp_api, citizen, device):
    import datetime

    from django.utils import timezone

    from approvals.services import approvals_expire_overdue

    approval = create(rp_api, payment_body(citizen)).json()
    path = decision_path(approval["id"])
    signed = device.phone.sign_decision(device_view_of(device, approval["id"]))
    headers = device.phone.auth("POST", path)
    ApprovalRequest.objects.filter(id=approval["id"]).update(expires_at=timezone.now() - datetime.timedelta(milliseconds=1))
    results = run_concurrently(
        [approvals_expire_overdue, lambda: APIClient().post(path, {"signed_decision": signed}, format="json", **headers)]
    )
    assert results[1].status_code == 410
    assert ApprovalRequest.objects.get(id=approval["id"]).status == "expired"
    assert AuditEntry.objects.filter(action="approval.expired", object_id=approval["id"]).count() == 1


def test_creations_and_decisions_for_one_citizen_do_not_deadlock(rp, citizen, device, settings):
    """Creation locks citizen -> audit head; a decision approval -> citizen -> audit head. Mixed
    concurrently (successes, failures that count, cancels), every answer is a contract answer."""
    settings.NEMID_MAX_PENDING_APPROVALS = 100
    settings.NEMID_LOCK_THRESHOLD = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((100, 600),)  # counted (under the citizen lock), never reached
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    approvals = [create(client, payment_body(citizen)).json() for _ in range(6)]
    calls: list[Callable[[], Any]] = []
    for index, approval in enumerate(approvals):
        path = decision_path(approval["id"])
        view = device_view_of(device, approval["id"])
        signed = device.phone.sign_decision(view, binding_message="tampered" if index % 2 else view["binding_message"])
        headers = device.phone.auth("POST", path)
        calls.append(
            lambda path=path, signed=signed, headers=headers: APIClient().post(
                path, {"signed_decision": signed}, format="json", **headers
            )
        )

        def make_and_cancel() -> Any:
            rp_client = APIClient()
            rp_client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
            created = create(rp_client, login_body(citizen)).json()
            return rp_client.post(f"/api/v1/approvals/{created['id']}/cancel")

        calls.append(make_and_cancel)
    responses = run_concurrently(calls)
    statuses = Counter(getattr(response, "status_code", repr(response)) for response in responses)
    assert statuses == {200: 9, 422: 3}, statuses
