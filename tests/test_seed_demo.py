"""seed_demo (used by `make run`): creates or reuses the demo data, prints what to use, and keeps
the printed credentials stable across runs in a 0600 file under var/ (never in clear in the database)."""

from __future__ import annotations

import io
import json
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from citizens.models import ActivationCode, Citizen
from demo.models import DemoRelyingParty
from demo.services import demo_relying_party
from nemid_app_backend.exceptions import InvalidApiKeyError
from relying_parties.authentication import relying_party_for_key
from relying_parties.models import RelyingParty
from tests.conftest import seed_demo
from tests.factories import RelyingPartyFactory
from tests.phone import Phone

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


seed = seed_demo


def register(code: str) -> int:
    phone = Phone()
    body = {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Demo",
        "platform": "web",
        "proof": phone.registration_proof(code),
    }
    return APIClient().post("/api/v1/devices", body, format="json").status_code


@override_settings(DEBUG=True)
def test_seed_demo_twice_keeps_the_same_credentials(var_dir):
    first = seed("--host", "0.0.0.0", "--port", "8080")
    assert first["urls"] == {
        "admin": "http://0.0.0.0:8080/admin/",
        "api_docs": "http://0.0.0.0:8080/api/docs/",
        "demo": "http://0.0.0.0:8080/demo/",
    }
    assert get_user_model().objects.get(username="admin").is_superuser
    second = seed()
    assert RelyingParty.objects.count() == 1 and Citizen.objects.count() == 1
    assert second["relying_party"] == first["relying_party"]
    assert second["citizen"] == first["citizen"]
    assert second["admin"] == first["admin"]
    rp = relying_party_for_key(second["relying_party"]["api_key"])
    assert rp.name == "Webshop ApS" and rp.allowed_types == ["login", "payment", "3ds"]
    assert ActivationCode.objects.count() == 1
    # the printed code registers a device; the next run prints a new one
    assert register(second["citizen"]["activation_code"]) == 201
    third = seed()
    assert third["citizen"]["activation_code"] != first["citizen"]["activation_code"]
    assert register(third["citizen"]["activation_code"]) == 201
    assert third["relying_party"]["api_key"] == first["relying_party"]["api_key"]


@override_settings(DEBUG=True)
def test_the_credentials_are_kept_only_in_a_private_file(var_dir):
    result = seed()
    path = var_dir / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = json.loads(path.read_text())
    assert kept["api_key"] == result["relying_party"]["api_key"]
    assert kept["activation_code"] == result["citizen"]["activation_code"]
    assert kept["admin_password"] == result["admin"]["password"] != "admin"
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("relying_parties_relyingparty", "citizens_activationcode", "accounts_user"):
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
            for secret in (result["relying_party"]["api_key"], result["citizen"]["activation_code"], result["admin"]["password"]):
                assert secret not in dump, table


@override_settings(DEBUG=True)
def test_rotate_replaces_every_credential(var_dir):
    first = seed()
    rotated = seed("--rotate")
    assert rotated["relying_party"]["api_key"] != first["relying_party"]["api_key"]
    assert rotated["citizen"]["activation_code"] != first["citizen"]["activation_code"]
    assert rotated["admin"]["password"] != first["admin"]["password"]
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(first["relying_party"]["api_key"])
    assert relying_party_for_key(rotated["relying_party"]["api_key"]).name == "Webshop ApS"
    assert get_user_model().objects.get(username="admin").check_password(rotated["admin"]["password"])
    assert seed()["relying_party"]["api_key"] == rotated["relying_party"]["api_key"]


@override_settings(DEBUG=True)
def test_a_lost_credentials_file_issues_new_ones(var_dir):
    first = seed()
    (var_dir / "demo-credentials.json").unlink()
    second = seed()
    assert second["relying_party"]["api_key"] != first["relying_party"]["api_key"]
    assert relying_party_for_key(second["relying_party"]["api_key"]).pk == relying_party_for_key_pk(first)


def relying_party_for_key_pk(result: dict) -> int:
    return RelyingParty.objects.get(client_id=result["relying_party"]["client_id"]).pk


@override_settings(DEBUG=True)
def test_an_admin_password_changed_by_an_operator_is_left_alone(var_dir):
    seed()
    user = get_user_model().objects.get(username="admin")
    user.set_password("an operator's own passphrase")
    user.save()
    again = seed()
    assert "changed" in again["admin"]["password"]
    user.refresh_from_db()
    assert user.check_password("an operator's own passphrase")


@override_settings(DEBUG=True)
def test_the_well_known_admin_password_of_earlier_versions_is_replaced(var_dir):
    get_user_model().objects.create_superuser("admin", "admin@localhost", "admin")
    result = seed()
    assert result["admin"]["password"] != "admin"
    assert not get_user_model().objects.get(username="admin").check_password("admin")


def test_the_demo_finds_its_relying_party_by_its_marker_not_its_name():
    impostor = RelyingPartyFactory(name="Webshop ApS")
    result = seed()
    marked = DemoRelyingParty.objects.get().relying_party
    assert marked != impostor and marked.client_id == result["relying_party"]["client_id"]
    marked.name = "Renamed Shop A/S"
    marked.save()
    assert demo_relying_party() == marked
    assert seed()["relying_party"]["name"] == "Renamed Shop A/S"


def test_no_superuser_outside_debug():
    result = seed()
    assert "admin" not in result
    assert not get_user_model().objects.exists()


@override_settings(DEBUG=True)
def test_text_output_names_everything():
    out = io.StringIO()
    call_command("seed_demo", "--port", "9000", stdout=out)
    text = out.getvalue()
    for needle in ("nrp_", "http://127.0.0.1:9000/admin/", "/api/docs/", "/demo/", "Admin login", "Activation code", "--rotate"):
        assert needle in text


@override_settings(DEBUG=False, NEMID_DEMO=False)
def test_refused_outside_demo_and_debug():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=io.StringIO())
    assert not RelyingParty.objects.exists()
