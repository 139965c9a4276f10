"""docs/contract §7: signed checkpoints of the audit log, published for auditors to keep."""

from __future__ import annotations

import datetime

import jwt
import pytest
from django.test import Client

from audit.services import audit_append, audit_seal
from signing.services import signing_key_rotate

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/checkpoints"


@pytest.fixture
def checkpoints(settings) -> None:
    """Checkpoints at positions 2, 3 and 4, a minute apart."""
    settings.NEMID_AUDIT_CHECKPOINT_SECONDS = 60
    signing_key_rotate(actor="t")
    start = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
    for minute in range(3):
        audit_append(action="test.event", object_type="thing", object_id=minute)
        assert audit_seal(now=start + datetime.timedelta(minutes=minute)).checkpoint is not None


def test_anyone_can_read_the_checkpoints_and_check_them_with_the_jwks(checkpoints):
    response = Client().get(URL)
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=30"
    body = response.json()
    assert [c["seq"] for c in body["checkpoints"]] == [2, 3, 4] and body["latest"]["seq"] == 4
    jwks = Client().get("/.well-known/jwks.json").json()
    for checkpoint in body["checkpoints"]:
        header = jwt.get_unverified_header(checkpoint["jws"])
        assert header["typ"] == "audit-checkpoint+jwt" and header["alg"] == "ES256"
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        claims = jwt.decode(checkpoint["jws"], jwt.PyJWK(key).key, algorithms=["ES256"])
        assert claims["seq"] == checkpoint["seq"] and claims["hash"] == checkpoint["hash"]
        assert claims["sealed_at"] == checkpoint["sealed_at"] and claims["iss"]


def test_checkpoints_page_forward(checkpoints):
    body = Client().get(URL, {"after": 2, "limit": 1}).json()
    assert [c["seq"] for c in body["checkpoints"]] == [3] and body["latest"]["seq"] == 4
    assert Client().get(URL, {"after": 4}).json()["checkpoints"] == []


def test_no_checkpoints_yet():
    assert Client().get(URL).json() == {"checkpoints": [], "latest": None}


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"after": -1}, {"after": "x"}])
def test_bad_query_is_a_validation_error(query):
    response = Client().get(URL, query)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
