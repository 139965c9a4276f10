"""The admin speaks to people: human section names, audit actors by name, long values that wrap."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.actors import actor_display
from audit.services import audit_append
from tests.conftest import staff_login
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, django_user_model):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw")
    return staff_login(client, user)


def test_sections_have_human_names(operator):
    page = operator.get(reverse("admin:index")).content.decode()
    for name in ("Relying parties", "3-D Secure", "Audit log", "Citizens", "Devices", "Approvals", "Webhooks"):
        assert f">{name}<" in page, name
    for raw in (">Threeds<", ">Relying_Parties<", ">Relying_parties<"):
        assert raw not in page
    assert "nemid-app-backend administration" in page


def test_audit_actors_show_names(operator):
    device = DeviceFactory(citizen=CitizenFactory(), name="Pixel 8")
    rp = RelyingPartyFactory(name="Webshop ApS")
    for actor in (f"device:{device.id}", f"rp:{rp.client_id}", "admin:operator", "cli:jens:enroll_citizen", "device:not-a-uuid"):
        audit_append(action="test.named", object_type="test", object_id="1", actor=actor, data={})
    page = operator.get(reverse("admin:audit_auditentry_changelist")).content.decode()
    assert f"Device “Pixel 8” of user {device.citizen.user_id}" in page
    assert "Relying party Webshop ApS" in page
    assert "Operator operator" in page and "Command enroll_citizen run by jens" in page
    assert "device:not-a-uuid" in page  # unknown: the recorded actor, as it is


def test_an_unknown_prefix_or_a_failing_namer_shows_the_recorded_actor(monkeypatch):
    from audit import actors

    assert actor_display("nobody") == "nobody"
    assert actor_display("weird:thing") == "weird:thing"

    def broken(rest: str) -> str:
        raise RuntimeError("database away")

    monkeypatch.setitem(actors._namers, "device", broken)
    assert actor_display("device:x") == "device:x"


def test_long_values_wrap_in_the_admin(operator):
    page = operator.get(reverse("admin:index")).content.decode()
    assert "overflow-wrap: anywhere" in page and "white-space: pre-wrap" in page
