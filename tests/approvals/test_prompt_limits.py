"""docs/contract §7, v1.1: prompt limits against push bombing, per citizen across all relying parties,
per relying party, and the slow-down after repeated denials (approvals.limits)."""

from __future__ import annotations

import datetime
import math
import random
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.app_settings import app_settings
from approvals.limits import prompt_limits_check
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


@pytest.mark.parametrize(
    ("limit", "retry_after"), [((4, 60), None), ((3, 60), 10), ((2, 60), 20), ((3, 45), None), ((1, 60), 30)]
)
def test_the_citizen_windows_slide(open_limits, rp, citizen, device, limit, retry_after):
    """Requests made 50, 40 and 30 s ago: a window is full until the request that must leave it for
    one more to fit (the count-th newest) is older than the window."""
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = (limit,)
    now = timezone.now()
    for seconds in (50, 40, 30):
        created = now - datetime.timedelta(seconds=seconds)
        make_approval(
            rp=rp, citizen=citizen, status="cancelled", created_at=created, expires_at=created + datetime.timedelta(seconds=120)
        )
    refusal = prompt_limits_check(citizen_id=citizen.pk, relying_party=rp, now=now)
    if retry_after is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.rule == f"citizen:{limit[0]}/{limit[1]}s" and refusal.retry_after == retry_after


def test_the_citizen_limits_are_one_statement_whatever_the_number_of_requests(rp, citizen, device):
    now = timezone.now()
    for n in range(60):
        created = now - datetime.timedelta(minutes=20 * n + 1)
        make_approval(
            rp=rp,
            citizen=citizen,
            status="denied",
            created_at=created,
            expires_at=created + datetime.timedelta(seconds=120),
            decided_at=created,
        )
    unlimited = RelyingPartyFactory(prompt_limit_per_minute=0)
    with CaptureQueriesContext(connection) as captured:
        refusal = prompt_limits_check(citizen_id=citizen.pk, relying_party=unlimited, now=now)
    assert len(captured.captured_queries) == 1
    # 50 in 24 hours: the 50th newest, made 16 h 21 min ago, leaves the window in 7 h 39 min.
    assert refusal is not None and refusal.rule == "citizen:50/86400s" and refusal.retry_after == (7 * 60 + 39) * 60


def _reference_refusal(rows: list[tuple[Any, str, Any]], *, now: Any) -> tuple[str, int] | None:
    """The citizen's limits as they were computed from the rows themselves (before one SQL statement
    summed them up): the specification the statement must meet. `rows`: (created_at, status, decided_at)."""
    windows = app_settings.PROMPT_LIMITS_PER_CITIZEN
    lookback = max([seconds for _, seconds in windows] + [app_settings.PROMPT_DENIAL_WINDOW + app_settings.MAX_EXPIRES_IN])
    rows = [row for row in rows if row[0] > now - datetime.timedelta(seconds=lookback)]
    times = sorted(created for created, _, _ in rows)
    waits = []
    for count, seconds in windows:
        inside = [moment for moment in times if moment > now - datetime.timedelta(seconds=seconds)]
        if len(inside) >= count:
            waits.append((inside[len(inside) - count] + datetime.timedelta(seconds=seconds) - now, f"citizen:{count}/{seconds}s"))
    since = now - datetime.timedelta(seconds=app_settings.PROMPT_DENIAL_WINDOW)
    approvals = [decided for _, status, decided in rows if status == "approved" and decided is not None]
    if approvals:
        since = max(since, max(approvals))
    denials = sum(1 for _, status, decided in rows if status == "denied" and decided is not None and decided > since)
    threshold = app_settings.PROMPT_DENIAL_THRESHOLD
    if threshold > 0 and denials >= threshold and times:
        interval = min(
            app_settings.PROMPT_DENIAL_INTERVAL * 2 ** min(denials - threshold, 32), app_settings.PROMPT_DENIAL_MAX_INTERVAL
        )
        wait = times[-1] + datetime.timedelta(seconds=interval) - now
        if wait > datetime.timedelta(0):
            waits.append((wait, "citizen:denials"))
    if not waits:
        return None
    wait, rule = max(waits)
    return rule, max(1, math.ceil(wait.total_seconds()))


@pytest.mark.parametrize("seed", range(20))
def test_the_citizen_limits_give_what_the_rows_themselves_give(open_limits, rp, citizen, device, seed):
    """Random histories (every status, decisions before and after approvals, requests older than
    every window) against the computation from the rows."""
    chance = random.Random(seed)
    short, daily = (chance.randint(1, 6), chance.choice([60, 600])), (chance.randint(3, 60), 86400)
    open_limits.NEMID_PROMPT_LIMITS_PER_CITIZEN = chance.choice([(), (short,), (daily,), (short, daily)])
    open_limits.NEMID_PROMPT_DENIAL_THRESHOLD = chance.choice([0, 1, 2, 3])
    open_limits.NEMID_PROMPT_DENIAL_WINDOW = chance.choice([600, 3600])
    open_limits.NEMID_PROMPT_DENIAL_INTERVAL = chance.choice([60, 600])
    now = timezone.now()
    rows = []
    for _ in range(chance.randint(0, 40)):
        created = now - datetime.timedelta(seconds=chance.uniform(1, chance.choice([300, 900, 7200, 90000])))
        status = chance.choice(["pending", "approved", "denied", "denied", "expired", "cancelled", "failed"])
        decided = created + datetime.timedelta(seconds=chance.uniform(0, 120)) if status in ("approved", "denied") else None
        if decided is not None and decided > now:
            decided = now
        make_approval(
            rp=rp,
            citizen=citizen,
            status=status,
            created_at=created,
            expires_at=created + datetime.timedelta(seconds=120),
            decided_at=decided,
        )
        rows.append((created, status, decided))
    make_approval(rp=rp, citizen=CitizenFactory(), status="denied", decided_at=now)  # another citizen's counts for nobody here
    refusal = prompt_limits_check(citizen_id=citizen.pk, relying_party=rp, now=now)
    expected = _reference_refusal(rows, now=now)
    assert (None if refusal is None else (refusal.rule, refusal.retry_after)) == expected


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
