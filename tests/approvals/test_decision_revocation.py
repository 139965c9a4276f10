"""A device revoked while its decision is on its way is refused: after its token was checked, and
(PostgreSQL, real concurrency) while the decision waits for its row locks."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from approvals.models import ApprovalRequest
from approvals.services import approval_request_decide
from citizens.models import Citizen
from devices.models import Device
from devices.services import device_revoke
from nemid_app_backend.exceptions import InvalidDeviceTokenError
from tests.approvals.conftest import create, device_view_of, login_body, payment_body
from tests.factories import DeviceFactory


def _status(approval_id: str) -> str:
    return ApprovalRequest.objects.get(id=approval_id).status


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["pending", "unknown", "not_a_uuid", "another_citizens"])
def test_a_device_revoked_after_its_token_was_checked_is_refused(rp_api, device, citizen, which):
    payment = create(rp_api, payment_body(citizen)).json()
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    approval_id = {
        "pending": payment["id"],
        "unknown": "00000000-0000-0000-0000-000000000000",
        "not_a_uuid": "not-a-uuid",
        "another_citizens": create(rp_api, login_body(DeviceFactory().citizen)).json()["id"],
    }[which]
    authenticated = Device.objects.get(id=device.id)  # as the device token found it: active
    Device.objects.filter(id=device.id).update(status=Device.Status.REVOKED)
    with pytest.raises(InvalidDeviceTokenError, match="revoked"):
        approval_request_decide(device=authenticated, approval_id=approval_id, signed_decision=signed)
    assert _status(payment["id"]) == "pending"
    assert Citizen.objects.get(id=citizen.id).failed_attempts == 0


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_revocation_committed_while_the_decision_waits_for_its_locks_is_seen(rp_api, device, citizen):
    # The decision's device check runs after its locks are taken: a revocation that commits while
    # the decision waits for them (here: for the citizen's row, which a creation may hold) is seen.
    payment = create(rp_api, payment_body(citizen)).json()
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    authenticated = Device.objects.get(id=device.id)
    held, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def hold_the_citizen() -> None:
        try:
            with transaction.atomic():
                Citizen.objects.select_for_update().get(id=citizen.id)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    def decide() -> None:
        try:
            outcome.append(approval_request_decide(device=authenticated, approval_id=payment["id"], signed_decision=signed))
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_citizen)
    holder.start()
    assert held.wait(30)
    decider = threading.Thread(target=decide)
    decider.start()
    deadline = time.monotonic() + 30
    while _lock_waiters() == 0:  # the decision is waiting for the citizen's row
        assert time.monotonic() < deadline and decider.is_alive(), outcome
        time.sleep(0.01)
    device_revoke(device=device, actor="test")  # commits while the decision waits
    release.set()
    holder.join(30)
    decider.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidDeviceTokenError), outcome
    assert _status(payment["id"]) == "pending"
