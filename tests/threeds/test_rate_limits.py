"""docs/contract §7, v1.1 for 3-D Secure: an AReq over the prompt limits is 429 rate_limited with
Retry-After, as an approval request is; nothing is stored for it, so the 3-D Secure server may send
the same AReq again once the limit allows."""

from __future__ import annotations

import datetime

import pytest

from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from relying_parties.models import RelyingParty
from tests.approvals.test_create import assert_problem
from tests.threeds.test_authentications import URL, acs, acs_rp, areq, card, start
from threeds.models import ThreeDSAuthentication

__all__ = ["acs", "acs_rp", "card"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_the_citizen_limit(settings):  # type: ignore[no-untyped-def]
    settings.NEMID_MAX_PENDING_APPROVALS = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((2, 600),)


def test_an_areq_over_the_citizens_limit_is_429_rate_limited(acs, acs_rp, card):
    for _ in range(2):
        assert start(acs)["transStatus"] == "D"
    body = areq()
    response = acs.post(URL, body, format="json")
    problem = assert_problem(response, 429, "rate_limited")
    assert problem["limit"] == "citizen"
    assert 595 <= int(response["Retry-After"]) <= 600
    assert ThreeDSAuthentication.objects.count() == 2 and ApprovalRequest.objects.count() == 2
    entry = AuditEntry.objects.get(action="approval.rate_limited")
    assert entry.object_id == card.citizen.user_id and entry.data["relying_party"] == acs_rp.client_id
    # Once the window has moved on, the same AReq (same threeDSServerTransID) is served afresh.
    earlier = datetime.timedelta(seconds=601)
    for approval in ApprovalRequest.objects.all():
        ApprovalRequest.objects.filter(pk=approval.pk).update(
            created_at=approval.created_at - earlier, expires_at=approval.expires_at - earlier
        )
    again = acs.post(URL, body, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["transStatus"] == "D"


def test_an_areq_over_the_relying_partys_own_limit_is_429(settings, acs, acs_rp, card):
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ()
    RelyingParty.objects.filter(pk=acs_rp.pk).update(prompt_limit_per_minute=1)
    assert start(acs)["transStatus"] == "D"
    problem = assert_problem(acs.post(URL, areq(), format="json"), 429, "rate_limited")
    assert problem["limit"] == "relying_party"


def test_an_unknown_card_is_not_rate_limited(acs, card):
    for _ in range(2):
        start(acs)
    unknown = start(acs, acctNumber="5555555555554444")
    assert unknown["transStatus"] == "N" and unknown["transStatusReason"] == "08"
