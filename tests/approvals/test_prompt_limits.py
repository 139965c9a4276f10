"""docs/contract §7, v1.1: prompt limits against push bombing, per citizen across all relying parties,
per relying party, and the slow-down after repeated denials (approvals.limits)."""

from __future__ import annotations

import datetime
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.limits import window_wait
from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from relying_parties.models import RelyingParty
from tests.approvals.conftest import create, decide, login_body, payment_body
from tests.approvals.test_create import assert_problem
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.push.test_fcm import _fcm, _google, rsa_key, service_account
from tests.realtime.helpers import Reply, make_approval

__all__ = ["rsa_key", "service_account"]

pytestmark = pytest.mark.django_db


def client_of(rp: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    return client


def age(approval_id: Any, seconds: float) -> None:
    """Move a request `seconds` into the past, as if that much time had passed since it was made."""
    approval = ApprovalRequest.objects.get(id=approval_id)
    delta = datetime.timedelta(seconds=seconds)
    ApprovalRequest.objects.filter(id=approval_id).update(
        created_at=approval.created_at - delta,
        expires_at=approval.expires_at - delta,
        decided_at=approval.decided_at - delta if approval.decided_at else None,
    )


def age_all(citizen: Any, seconds: float) -> None:
    for approval_id in ApprovalRequest.objects.filter(citizen=citizen).values_list("id", flat=True):
        age(approval_id, seconds)


def create_and_cancel(client: APIClient, citizen: Any) -> dict[str, Any]:
    response = create(client, login_body(citizen))
    assert response.status_code == 201, response.content
    assert client.post(f"/api/v1/approvals/{response.json()['id']}/cancel").status_code == 200
    return response.json()


@pytest.fixture
def open_limits(settings):  # type: ignore[no-untyped-def]
    """Only the limit a test is about: the others out of the way."""
    settings.NEMID_MAX_PENDING_APPROVALS = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ()
    settings.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 0
    settings.NEMID_PROMPT_DENIAL_THRESHOLD = 0
    return settings


# --- per citizen ------------------------------------------------------------------------------


def test_create_then_cancel_cycles_are_refused_after_ten_in_ten_minutes(rp_api, citizen, device):
    """The attack of the review: create-then-cancel stays under the pending limit; the default
    prompt limit stops it at ten."""
    made = [create_and_cancel(rp_api, citizen) for _ in range(10)]
    response = create(rp_api, login_body(citizen))
    body = assert_problem(response, 429, "rate_limited")
    assert body["limit"] == "citizen"
    assert 595 <= int(response["Retry-After"]) <= 600
    assert ApprovalRequest.objects.filter(citizen=citizen).count() == 10  # nothing written for the refusal
    # Retry-After is when the oldest of the ten leaves the window.
    age(made[0]["id"], 600 - 30)
    response = create(rp_api, login_body(citizen))
    assert_problem(response, 429, "rate_limited")
    assert 25 <= int(response["Retry-After"]) <= 30
    age(made[0]["id"], 31)
    assert create(rp_api, login_body(citizen)).status_code == 201


@pytest.mark.parametrize("status", ["expired", "cancelled", "denied", "approved", "failed"])
def test_every_outcome_counts(open_limits, rp, citizen, device, status):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((3, 600),)
    for _ in range(3):
        make_approval(rp=rp, citizen=citizen, status=status)
    assert_problem(create(client_of(rp), login_body(citizen)), 429, "rate_limited")


def test_the_citizen_limit_spans_relying_parties(open_limits, citizen, device):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((4, 600),)
    shops = [RelyingPartyFactory() for _ in range(3)]
    for shop in shops[:2]:
        for _ in range(2):
            create_and_cancel(client_of(shop), citizen)
    response = create(client_of(shops[2]), login_body(citizen))
    assert_problem(response, 429, "rate_limited")
    other = CitizenFactory()
    DeviceFactory(citizen=other)
    assert create(client_of(shops[2]), login_body(other)).status_code == 201  # per citizen, not per shop


def test_the_daily_limit_stops_a_slow_drip(rp, rp_api, citizen, device):
    """Under the burst limit (one request every 15 minutes), the 24-hour window still ends it at 50."""
    now = timezone.now()
    for n in range(50):
        created = now - datetime.timedelta(minutes=15 * (50 - n))
        make_approval(
            rp=rp, citizen=citizen, status="expired", created_at=created, expires_at=created + datetime.timedelta(seconds=120)
        )
    response = create(rp_api, login_body(citizen))
    assert_problem(response, 429, "rate_limited")
    # The oldest was made 12.5 h ago: it leaves the 24-hour window in 11.5 h.
    assert abs(int(response["Retry-After"]) - 11.5 * 3600) <= 5


def test_citizen_limits_are_settings(open_limits, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((2, 60),)
    create_and_cancel(rp_api, citizen)
    create_and_cancel(rp_api, citizen)
    response = create(rp_api, login_body(citizen))
    assert_problem(response, 429, "rate_limited")
    assert int(response["Retry-After"]) <= 60


def test_window_wait_is_a_sliding_window():
    now = timezone.now()
    times = [now - datetime.timedelta(seconds=s) for s in (50, 40, 30)]
    assert window_wait(times, count=4, seconds=60, now=now) is None
    assert window_wait(times, count=3, seconds=60, now=now) == datetime.timedelta(seconds=10)
    assert window_wait(times, count=2, seconds=60, now=now) == datetime.timedelta(seconds=20)
    assert window_wait(times, count=3, seconds=45, now=now) is None  # the oldest is already outside


# --- per relying party ------------------------------------------------------------------------


def citizens_with_devices(count: int) -> list[Any]:
    return [DeviceFactory().citizen for _ in range(count)]


def test_the_relying_party_limit_spans_citizens(open_limits, rp, rp_api):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 3
    people = citizens_with_devices(4)
    for person in people[:3]:
        assert create(rp_api, payment_body(person)).status_code == 201
    response = create(rp_api, payment_body(people[3]))
    body = assert_problem(response, 429, "rate_limited")
    assert body["limit"] == "relying_party"
    assert 55 <= int(response["Retry-After"]) <= 60
    other_shop = RelyingPartyFactory()
    assert create(client_of(other_shop), payment_body(people[3])).status_code == 201  # per relying party
    age(ApprovalRequest.objects.filter(relying_party=rp).order_by("created_at").first().id, 61)  # type: ignore[union-attr]
    assert create(rp_api, payment_body(people[3])).status_code == 201


def test_the_default_relying_party_limit_is_600_a_minute(rp, settings):
    assert settings.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE == 600
    assert rp.prompt_limit_per_minute is None


def test_a_relying_partys_own_limit_overrides_the_default(open_limits, rp, rp_api):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 100
    RelyingParty.objects.filter(pk=rp.pk).update(prompt_limit_per_minute=2)
    people = citizens_with_devices(3)
    for person in people[:2]:
        assert create(rp_api, payment_body(person)).status_code == 201
    assert_problem(create(rp_api, payment_body(people[2])), 429, "rate_limited")


def test_an_own_limit_of_zero_means_none(open_limits, rp, rp_api):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 1
    RelyingParty.objects.filter(pk=rp.pk).update(prompt_limit_per_minute=0)
    rp.prompt_limit_per_minute = 0
    for person in citizens_with_devices(3):
        assert create(rp_api, payment_body(person)).status_code == 201


def test_operators_set_the_limit_in_the_admin(open_limits, rp, rp_api, admin_client):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 100
    url = f"/admin/relying_parties/relyingparty/{rp.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200 and b"prompt_limit_per_minute" in page.content
    form = {"name": rp.name, "callback_url": "", "allowed_types": ["login", "payment"], "is_active": "on"}
    response = admin_client.post(url, {**form, "prompt_limit_per_minute": "1"})
    assert response.status_code == 302, response.content
    assert RelyingParty.objects.get(pk=rp.pk).prompt_limit_per_minute == 1
    entry = AuditEntry.objects.get(action="relying_party.updated", object_id=rp.client_id)
    assert entry.data == {"prompt_limit_per_minute": 1}
    people = citizens_with_devices(2)
    assert create(rp_api, payment_body(people[0])).status_code == 201
    assert_problem(create(rp_api, payment_body(people[1])), 429, "rate_limited")
    # Empty again: the service's default.
    assert admin_client.post(url, {**form, "prompt_limit_per_minute": ""}).status_code == 302
    assert RelyingParty.objects.get(pk=rp.pk).prompt_limit_per_minute is None
    assert create(rp_api, payment_body(people[1])).status_code == 201


# --- the slow-down after repeated denials -----------------------------------------------------


def deny_one(rp_api: APIClient, citizen: Any, device: Any) -> dict[str, Any]:
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval, "deny").status_code == 200
    return approval


def test_three_denials_slow_prompts_down_and_each_further_one_doubles_the_interval(open_limits, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_DENIAL_THRESHOLD = 3
    for _ in range(3):
        deny_one(rp_api, citizen, device)
    response = create(rp_api, payment_body(citizen))
    body = assert_problem(response, 429, "rate_limited")
    assert body["limit"] == "citizen"
    assert 55 <= int(response["Retry-After"]) <= 60  # one minute after the last prompt
    age_all(citizen, 61)
    deny_one(rp_api, citizen, device)  # the fourth denial: two minutes
    response = create(rp_api, payment_body(citizen))
    assert_problem(response, 429, "rate_limited")
    assert 115 <= int(response["Retry-After"]) <= 120
    age_all(citizen, 121)
    assert create(rp_api, payment_body(citizen)).status_code == 201


def test_denials_older_than_an_hour_do_not_count(open_limits, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_DENIAL_THRESHOLD = 3
    made = [deny_one(rp_api, citizen, device) for _ in range(3)]
    for approval in made:
        age(approval["id"], 3601)
    assert create(rp_api, payment_body(citizen)).status_code == 201


def test_an_approval_after_the_denials_ends_the_slow_down(open_limits, rp, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_DENIAL_THRESHOLD = 3
    for _ in range(3):
        deny_one(rp_api, citizen, device)
    # Then the citizen approves a request (one made by the relying party while prompts were slowed down).
    age_all(citizen, 61)
    pending = create(rp_api, payment_body(citizen)).json()
    assert decide(device, pending, "approve").status_code == 200
    assert create(rp_api, payment_body(citizen)).status_code == 201
    assert create(rp_api, payment_body(citizen)).status_code == 201  # no minimum interval any more


def test_the_slow_down_is_per_citizen(open_limits, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_DENIAL_THRESHOLD = 3
    for _ in range(3):
        deny_one(rp_api, citizen, device)
    other = DeviceFactory().citizen
    assert create(rp_api, payment_body(other)).status_code == 201


# --- audit, push, idempotency ---------------------------------------------------------------


def test_refusals_are_audited_once_a_minute_per_rule_and_subject(open_limits, rp, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((1, 600),)
    create_and_cancel(rp_api, citizen)
    for _ in range(3):
        assert_problem(create(rp_api, login_body(citizen)), 429, "rate_limited")
    entry = AuditEntry.objects.get(action="approval.rate_limited")
    assert entry.object_type == "citizen" and entry.object_id == citizen.user_id
    assert entry.actor == f"rp:{rp.client_id}"
    assert entry.data["rule"] == "citizen:1/600s" and entry.data["relying_party"] == rp.client_id
    assert entry.data["type"] == "login" and 595 <= entry.data["retry_after"] <= 600


def test_a_relying_party_refusal_is_audited_on_the_relying_party(open_limits, rp, rp_api):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 1
    people = citizens_with_devices(2)
    create(rp_api, payment_body(people[0]))
    assert_problem(create(rp_api, payment_body(people[1])), 429, "rate_limited")
    entry = AuditEntry.objects.get(action="approval.rate_limited")
    assert entry.object_type == "relying_party" and entry.object_id == rp.client_id
    assert entry.data["rule"] == "relying_party:1/60s" and entry.data["user_id"] == people[1].user_id


def test_a_refused_request_is_not_pushed_nor_broadcast(open_limits, rp_api, citizen, device, django_capture_on_commit_callbacks):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((1, 600),)
    from devices.models import Device

    Device.objects.filter(pk=device.pk).update(push_provider="fcm", push_token="fcm-token-1")
    with django_capture_on_commit_callbacks() as allowed:
        assert create(rp_api, payment_body(citizen)).status_code == 201
    assert len(allowed) == 3  # the broadcast to the citizen's sockets, the metrics count and the push to the device
    with django_capture_on_commit_callbacks() as refused:
        assert_problem(create(rp_api, payment_body(citizen)), 429, "rate_limited")
    assert refused == []


def test_the_phone_gets_no_push_for_a_refused_request(
    open_limits, rp_api, citizen, service_account, settings, django_capture_on_commit_callbacks
):
    """End to end with the FCM provider against a local receiver: two allowed, two refused, two pushes."""
    from nemid_app_backend.celery import app

    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((2, 600),)
    DeviceFactory(citizen=citizen, push_provider="fcm", push_token="fcm-token-1")
    receiver, _ = _google(Reply(200, body=b"{}"))
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with receiver:
            _fcm(service_account, receiver, settings)
            statuses = []
            for _ in range(4):
                with django_capture_on_commit_callbacks(execute=True):
                    statuses.append(create(rp_api, login_body(citizen)).status_code)
    finally:
        app.conf.task_always_eager = previous
    assert statuses == [201, 201, 429, 429]
    sends = [received for received in receiver.received if received.path != "/token"]
    assert len(sends) == 2
    assert AuditEntry.objects.filter(action="approval.pushed").count() == 2


def test_an_idempotent_replay_is_not_refused(open_limits, rp_api, citizen, device):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((1, 600),)
    first = create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="order-1")
    again = create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="order-1")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert_problem(create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="order-2"), 429, "rate_limited")


# --- under concurrency, in both database modes --------------------------------------------------


def run_concurrently(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_the_citizen_limit_holds_under_concurrency(open_limits, rp, citizen, device):
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((10, 600),)
    responses = run_concurrently([lambda: create(client_of(rp), login_body(citizen))] * 16)
    statuses = Counter(getattr(response, "status_code", repr(response)) for response in responses)
    assert statuses == {201: 10, 429: 6}, statuses
    assert {response.json()["code"] for response in responses if response.status_code == 429} == {"rate_limited"}
    assert ApprovalRequest.objects.filter(citizen=citizen).count() == 10


@pytest.mark.django_db(transaction=True)
def test_the_relying_party_limit_holds_under_concurrency(open_limits, rp):
    open_limits.NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = 5
    people = citizens_with_devices(12)
    responses = run_concurrently([lambda person=person: create(client_of(rp), login_body(person)) for person in people])
    statuses = Counter(getattr(response, "status_code", repr(response)) for response in responses)
    assert statuses == {201: 5, 429: 7}, statuses
    assert ApprovalRequest.objects.filter(relying_party=rp).count() == 5
