"""docs/contract §3 and §10: a relying party is registered as one record with its OpenID Connect
client (the command and the admin), with redirect URI and CIBA rules."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from oidc.models import Client
from relying_parties.authentication import relying_party_for_key
from tests.conftest import staff_login
from tests.relying_parties.test_relying_parties import _command

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, django_user_model):  # type: ignore[no-untyped-def]
    return staff_login(client, django_user_model.objects.create_superuser("operator", "op@example.com", "pw"))


def test_the_command_registers_one_relying_party_with_its_client():
    code, data = _command(
        "--name",
        "borger.dk",
        "--redirect-uri",
        "https://www.borger.dk/oidc/callback",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--ciba-mode",
        "ping",
        "--ciba-notification-endpoint",
        "http://127.0.0.1:9999/ciba",
    )
    assert code == 0, data
    assert set(data) == {"client_id", "api_key", "webhook_secret", "client_secret"}
    client = Client.objects.get(client_id=data["client_id"])
    assert client.relying_party == relying_party_for_key(data["api_key"])
    assert client.redirect_uri_list == ["https://www.borger.dk/oidc/callback", "http://127.0.0.1/callback"]
    assert client.ciba_mode == "ping" and client.ciba_notification_endpoint == "http://127.0.0.1:9999/ciba"
    assert data["client_secret"] not in client.client_secret and check_password(data["client_secret"], client.client_secret)
    assert client.client_secret.startswith("nemid_client_secret$")
    assert AuditEntry.objects.filter(action="oidc.client_created", object_id=data["client_id"]).exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--redirect-uri", "http://rp.example/callback"],  # plain http off loopback
        ["--redirect-uri", "http://localhost/callback"],  # a name, not a loopback address
        ["--redirect-uri", "https://rp.example/cb#frag"],
        ["--redirect-uri", "https://user:pw@rp.example/cb"],
        ["--redirect-uri", "https://*.rp.example/cb"],
        ["--redirect-uri", "rp.example/callback"],
        ["--redirect-uri", "myapp://callback"],
        ["--ciba-mode", "ping"],  # no notification endpoint
        ["--ciba-mode", "poll", "--ciba-notification-endpoint", "https://rp.example/ciba"],
        ["--ciba-mode", "ping", "--ciba-notification-endpoint", "http://rp.example/ciba"],
        ["--ciba-mode", "push"],
    ],
)
def test_the_command_refuses_bad_client_settings_and_creates_nothing(args):
    code, problem = _command("--name", "Shop", *args)
    assert code == 1 and problem["code"] == "invalid_argument", problem
    assert not Client.objects.exists()


def test_a_relying_party_made_in_the_admin_gets_its_client_secret_shown_once(operator):
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_add"),
        {
            "name": "skat.dk",
            "allowed_types": ["login"],
            "redirect_uris": "https://skat.dk/callback\nhttp://127.0.0.1/cb",
            "ciba_mode": "poll",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    client = Client.objects.get()
    secret = re.search(r"Client secret.*?<code[^>]*>([A-Za-z0-9_\-]{43})</code>", html, re.S)
    assert secret, html[-3000:]
    assert check_password(secret.group(1), client.client_secret)
    assert client.redirect_uri_list == ["https://skat.dk/callback", "http://127.0.0.1/cb"] and client.ciba_mode == "poll"
    page = operator.get(reverse("admin:relying_parties_relyingparty_change", args=[client.relying_party.pk])).content.decode()
    assert "https://skat.dk/callback" in page and secret.group(1) not in page


def test_the_admin_refuses_a_bad_redirect_uri(operator):
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_add"),
        {"name": "Shop", "allowed_types": ["login"], "redirect_uris": "http://shop.example/cb"},
    )
    assert response.status_code == 200 and "loopback" in response.content.decode()
    assert not Client.objects.exists()


def test_editing_the_client_goes_through_the_service(operator, oidc_client):
    url = reverse("admin:oidc_client_change", args=[oidc_client.client.pk])
    response = operator.post(
        url,
        {
            "redirect_uris": "https://new.example/cb",
            "post_logout_redirect_uris": "",
            "ciba_mode": "",
            "ciba_notification_endpoint": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client = Client.objects.get(pk=oidc_client.client.pk)
    assert client.redirect_uri_list == ["https://new.example/cb"]
    assert AuditEntry.objects.get(action="oidc.client_updated").actor == "admin:operator"


def test_a_new_client_secret_from_the_admin_replaces_the_old_one(operator, oidc_client):
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_changelist"),
        {"action": "rotate_client_secrets", "_selected_action": [oidc_client.relying_party.pk]},
    )
    assert response.status_code == 200
    client = Client.objects.get(pk=oidc_client.client.pk)
    assert not check_password(oidc_client.secret, client.client_secret)
    body = urlencode({"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": "x"})
    old = base64.b64encode(f"{oidc_client.client_id}:{oidc_client.secret}".encode()).decode()
    refused = APIClient().post(
        "/oidc/token", body, content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=f"Basic {old}"
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
