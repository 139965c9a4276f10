"""Operators see approval requests read-only, filterable and searchable."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.approvals.conftest import create, login_body, payment_body
from tests.conftest import staff_login
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/approvals/approvalrequest/"


@pytest.fixture
def operator(client):  # type: ignore[no-untyped-def]
    user = User.objects.create_superuser(username="operator", password="pw-operator-1", email="op@example.com")
    return staff_login(client, user)


def test_admin_lists_filters_and_searches(operator, rp_api, citizen, device):
    mine = create(rp_api, payment_body(citizen)).json()
    other = DeviceFactory()
    theirs = create(rp_api, login_body(other.citizen)).json()
    page = operator.get(LIST).content.decode()
    assert mine["id"] in page and theirs["id"] in page
    by_user = operator.get(LIST, {"q": citizen.user_id}).content.decode()
    assert mine["id"] in by_user and theirs["id"] not in by_user
    by_id = operator.get(LIST, {"q": theirs["id"]}).content.decode()
    assert theirs["id"] in by_id and mine["id"] not in by_id
    assert operator.get(LIST, {"q": "not-a-uuid"}).status_code == 200
    filtered = operator.get(LIST, {"type__exact": "login"}).content.decode()
    assert theirs["id"] in filtered and mine["id"] not in filtered
    assert operator.get(LIST, {"status__exact": "pending"}).status_code == 200


def test_admin_is_read_only(operator, rp_api, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    assert operator.get(f"{LIST}add/").status_code == 403
    page = operator.get(f"{LIST}{approval['id']}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    assert "field-verification_code" not in content and "field-status" in content  # the RP's code is not shown
    response = operator.post(f"{LIST}{approval['id']}/delete/", {"post": "yes"})
    assert response.status_code == 403
