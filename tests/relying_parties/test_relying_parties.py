"""docs/contract §1, §3: relying parties, their API keys and webhook secrets, and create_relying_party."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.test import override_settings

from audit.models import AuditEntry
from nemid_app_backend.exceptions import InvalidApiKeyError, ValidationError
from relying_parties.authentication import relying_party_for_key
from relying_parties.models import RelyingParty
from relying_parties.services import (
    relying_party_create,
    relying_party_rotate_key,
    relying_party_update,
    relying_party_webhook_secret,
    validate_callback_url,
)

pytestmark = pytest.mark.django_db


def test_create_stores_only_a_hash_and_an_encrypted_secret():
    rp, api_key, secret = relying_party_create(
        name="Webshop ApS", callback_url="https://shop.example/hooks", allowed_types=["payment", "login"], actor="t"
    )
    assert len(base64.urlsafe_b64decode(api_key[4:] + "==")) >= 32  # >= 256 bits
    assert secret.startswith("whsec_") and 24 <= len(base64.b64decode(secret[6:])) <= 32
    stored = json.dumps(RelyingParty.objects.values().get(pk=rp.pk), default=str)
    assert api_key not in stored and secret not in stored and secret[6:] not in stored
    assert relying_party_for_key(api_key) == rp
    assert relying_party_webhook_secret(rp) == secret
    assert rp.allowed_types == ["login", "payment"]
    uuid.UUID(rp.client_id)
    entry = AuditEntry.objects.get(action="relying_party.created")
    assert api_key not in str(entry.data) and secret not in str(entry.data)


def test_default_allowed_types():
    rp, _, _ = relying_party_create(name="Shop", actor="t")
    assert rp.allowed_types == ["login", "payment"] and rp.callback_url == ""


def test_rotate_key_invalidates_the_old_one():
    rp, old_key, _ = relying_party_create(name="Shop", actor="t")
    rp, new_key = relying_party_rotate_key(relying_party=rp, actor="t")
    assert new_key != old_key
    assert relying_party_for_key(new_key) == rp
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(old_key)
    assert rp.key_rotated_at is not None
    assert AuditEntry.objects.filter(action="relying_party.key_rotated").exists()


def test_a_remembered_key_stops_working_at_once_when_rotated_or_deactivated_here(django_assert_num_queries):
    rp, key, _ = relying_party_create(name="Shop", actor="t")
    assert relying_party_for_key(key) == rp
    with django_assert_num_queries(0):  # remembered: no read
        assert relying_party_for_key(key) == rp
    relying_party_update(relying_party=rp, actor="t", is_active=False)
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(key)
    relying_party_update(relying_party=rp, actor="t", is_active=True)
    assert relying_party_for_key(key) == rp
    _, new_key = relying_party_rotate_key(relying_party=rp, actor="t")
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(key)
    assert relying_party_for_key(new_key) == rp


def test_a_change_made_elsewhere_applies_after_the_cache_period(monkeypatch):
    import relying_parties.authentication as authentication

    rp, key, _ = relying_party_create(name="Shop", actor="t")
    clock = [1000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: clock[0])
    assert relying_party_for_key(key) == rp
    RelyingParty.objects.filter(pk=rp.pk).update(is_active=False)  # as another process would, unseen here
    clock[0] += 4.9
    assert relying_party_for_key(key) == rp  # within NEMID_RP_KEY_CACHE_SECONDS (5)
    clock[0] += 0.2
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(key)


def test_remembered_answers_only_from_memory(django_assert_num_queries):
    from relying_parties.authentication import relying_party_keys_forget, relying_party_remembered

    rp, key, _ = relying_party_create(name="Shop", actor="t")
    with django_assert_num_queries(0):
        assert relying_party_remembered(key) is None  # not looked up yet: the caller goes to the database
        assert relying_party_remembered("") is None and relying_party_remembered("x" * 201) is None
    relying_party_for_key(key)
    with django_assert_num_queries(0):
        assert relying_party_remembered(key) == rp
    relying_party_keys_forget()
    assert relying_party_remembered(key) is None


@override_settings(NEMID_RP_KEY_CACHE_SECONDS=0)
def test_the_cache_can_be_turned_off():
    rp, key, _ = relying_party_create(name="Shop", actor="t")
    assert relying_party_for_key(key) == rp
    RelyingParty.objects.filter(pk=rp.pk).update(is_active=False)
    with pytest.raises(InvalidApiKeyError):
        relying_party_for_key(key)


def test_update():
    rp, _, _ = relying_party_create(name="Shop", actor="t")
    rp = relying_party_update(
        relying_party=rp, actor="t", allowed_types=["3ds"], is_active=False, callback_url="https://x.example/h"
    )
    assert rp.allowed_types == ["3ds"] and not rp.is_active and rp.callback_url == "https://x.example/h"
    assert AuditEntry.objects.get(action="relying_party.updated").data["allowed_types"] == ["3ds"]
    with pytest.raises(ValidationError):
        relying_party_update(relying_party=rp, actor="t", callback_url="http://evil.example/")


@pytest.mark.parametrize("types", [[], ["sms"], "login", [1], ["login", "bogus"]])
def test_invalid_allowed_types(types):
    with pytest.raises(ValidationError) as error:
        relying_party_create(name="Shop", allowed_types=types, actor="t")
    assert "allowed_types" in error.value.extra["errors"]


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/hooks/nemid",
        "https://shop.example:8443/h?x=1",
        "http://127.0.0.1:8001/hook",
        "http://localhost/hook",
    ],
)
def test_acceptable_callback_urls(url):
    assert validate_callback_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hooks",
        "ftp://shop.example/x",
        "https://user:pw@shop.example/x",
        "https://shop.example/x#frag",
        "https://",
        "not a url",
        "https://shop.example:99999/",
        "https://" + "a" * 2000 + ".example/",
        None,
        42,
        "javascript:alert(1)",
    ],
)
def test_unacceptable_callback_urls(url):
    with pytest.raises(ValidationError) as error:
        validate_callback_url(url)
    assert "callback_url" in error.value.extra["errors"]


def test_http_hosts_come_from_settings():
    with override_settings(NEMID_WEBHOOK_HTTP_HOSTS=["hooks.internal"]):
        assert validate_callback_url("http://hooks.internal/x") == "http://hooks.internal/x"
        with pytest.raises(ValidationError):
            validate_callback_url("http://127.0.0.1/x")


# --- the command -----------------------------------------------------------------------------------


def _command(*args: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(io.StringIO()) as process_err:
        try:
            call_command("create_relying_party", *args, stdout=out, stderr=err)
        except SystemExit as exc:
            code = int(exc.code or 0)
    if code:
        assert out.getvalue() == ""
        return code, json.loads(err.getvalue() or process_err.getvalue())
    return code, json.loads(out.getvalue())


def test_create_relying_party_command():
    code, data = _command(
        "--name", "Webshop ApS", "--callback-url", "https://shop.example/hooks", "--allow", "login, payment,3ds"
    )
    assert code == 0 and set(data) == {"client_id", "api_key", "webhook_secret", "client_secret"}
    rp = relying_party_for_key(data["api_key"])
    assert rp.client_id == data["client_id"] and rp.allowed_types == ["login", "payment", "3ds"]
    assert data["webhook_secret"].startswith("whsec_")


def test_create_relying_party_defaults_to_login_and_payment():
    _, data = _command("--name", "Shop")
    assert RelyingParty.objects.get(client_id=data["client_id"]).allowed_types == ["login", "payment"]


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "Shop", "--allow", "login,teleport"],
        ["--name", "Shop", "--allow", ""],
        ["--name", "Shop", "--callback-url", "http://shop.example/"],
        ["--name", ""],
        [],
        ["--name", "Shop", "--bogus"],
    ],
)
def test_create_relying_party_command_errors(args):
    code, problem = _command(*args)
    assert code == 1 and problem["code"] == "invalid_argument"
    assert not RelyingParty.objects.exists()
