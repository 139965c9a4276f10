"""seed_demo (used by `make run`): creates or reuses the demo data and prints what to use."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from citizens.models import Citizen
from relying_parties.authentication import relying_party_for_key
from relying_parties.models import RelyingParty
from tests.phone import Phone

pytestmark = pytest.mark.django_db


def seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@override_settings(DEBUG=True)
def test_seed_demo_twice_reuses_and_reissues():
    first = seed("--host", "0.0.0.0", "--port", "8080")
    assert first["urls"] == {
        "admin": "http://0.0.0.0:8080/admin/",
        "api_docs": "http://0.0.0.0:8080/api/docs/",
        "demo": "http://0.0.0.0:8080/demo/",
    }
    assert first["admin"] == {"username": "admin", "password": "admin"}
    assert get_user_model().objects.get(username="admin").is_superuser
    second = seed()
    assert RelyingParty.objects.count() == 1 and Citizen.objects.count() == 1
    rp = relying_party_for_key(second["relying_party"]["api_key"])
    assert rp.name == "Webshop ApS" and rp.allowed_types == ["login", "payment", "3ds"]
    with pytest.raises(Exception):
        relying_party_for_key(first["relying_party"]["api_key"])  # re-issued
    assert second["citizen"]["user_id"] == first["citizen"]["user_id"]
    assert second["citizen"]["activation_code"] != first["citizen"]["activation_code"]
    # the printed code registers a device
    phone = Phone()
    code = second["citizen"]["activation_code"]
    body = {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Demo",
        "platform": "web",
        "proof": phone.registration_proof(code),
    }
    assert APIClient().post("/api/v1/devices", body, format="json").status_code == 201


def test_no_superuser_outside_debug():
    result = seed()
    assert "admin" not in result
    assert not get_user_model().objects.exists()


@override_settings(DEBUG=True)
def test_text_output_names_everything():
    out = io.StringIO()
    call_command("seed_demo", "--port", "9000", stdout=out)
    text = out.getvalue()
    for needle in ("nrp_", "http://127.0.0.1:9000/admin/", "/api/docs/", "/demo/", "admin / admin", "Activation code"):
        assert needle in text


@override_settings(DEBUG=False, NEMID_DEMO=False)
def test_refused_outside_demo_and_debug():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=io.StringIO())
    assert not RelyingParty.objects.exists()
