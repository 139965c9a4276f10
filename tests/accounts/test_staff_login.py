"""The admin asks staff for a one-time code after the password (django-otp), and locks an account
after repeated failed log-ins, wrong codes included, whichever address they come from (django-axes).

Client addresses are loopback addresses used as request metadata only."""

from __future__ import annotations

import io
import json
from typing import Any

import pyotp
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEntry
from tests.conftest import staff_login

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
INDEX = "/admin/"
PASSWORD = "correct horse battery staple"


def enroll(username: str, *args: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("enroll_staff_totp", "--username", username, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), json.loads(err.getvalue())
    return 0, json.loads(out.getvalue())


@pytest.fixture
def operator() -> User:
    return User.objects.create_superuser("operator", "op@example.com", PASSWORD)


@pytest.fixture
def totp(operator: User) -> pyotp.TOTP:
    code, output = enroll("operator")
    assert code == 0
    uri = pyotp.parse_uri(output["otpauth_uri"])
    assert isinstance(uri, pyotp.TOTP)
    return uri


def log_in(username: str, password: str, otp_token: str = "", *, address: str = "127.0.0.1", **meta: str) -> Any:
    client = Client(REMOTE_ADDR=address, **meta)  # type: ignore[arg-type]
    response = client.post(
        LOGIN, {"username": username, "password": password, "otp_token": otp_token, "this_is_the_login_form": "1", "next": INDEX}
    )
    response.client_after = client  # type: ignore[attr-defined]
    return response


def signed_in(response: Any) -> bool:
    return response.status_code == 302 and response.client_after.get(INDEX).status_code == 200


def test_the_password_alone_does_not_open_the_admin(operator):
    TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    response = log_in("operator", PASSWORD)
    assert response.status_code == 200 and not signed_in(response)
    assert response.client_after.get(INDEX).status_code == 302


def test_a_session_without_a_verified_code_is_not_let_in(client, operator):
    client.force_login(operator)  # a password log-in, no one-time code
    response = client.get(INDEX)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert staff_login(client, operator).get(INDEX).status_code == 200


def test_password_and_code_open_the_admin_and_are_audited(operator, totp):
    response = log_in("operator", PASSWORD, totp.now())
    assert signed_in(response)
    entry = AuditEntry.objects.filter(action="staff.logged_in").get()
    assert entry.object_id == "operator" and entry.data["otp_device"].startswith("otp_totp.totpdevice/")


def test_a_code_is_accepted_once(operator, totp):
    code = totp.now()
    assert signed_in(log_in("operator", PASSWORD, code))
    assert not signed_in(log_in("operator", PASSWORD, code))


def test_the_enrollment_command(operator):
    code, output = enroll("operator")
    assert code == 0 and set(output) == {"username", "device", "otpauth_uri"}
    uri = pyotp.parse_uri(output["otpauth_uri"])
    assert output["otpauth_uri"].startswith("otpauth://totp/nemid-app-backend%3Aoperator?")
    assert uri.issuer == "nemid-app-backend"
    assert isinstance(uri, pyotp.TOTP) and uri.digits == 6 and uri.interval == 30
    assert AuditEntry.objects.get(action="staff.totp_enrolled").object_id == "operator"
    assert "secret" not in json.dumps(AuditEntry.objects.get(action="staff.totp_enrolled").data).lower()

    again, problem = enroll("operator")
    assert again == 1 and problem["code"] == "invalid_argument"
    replaced, fresh = enroll("operator", "--replace")
    assert replaced == 0 and fresh["otpauth_uri"] != output["otpauth_uri"]
    assert TOTPDevice.objects.filter(user=operator).count() == 1
    assert not signed_in(log_in("operator", PASSWORD, uri.now()))  # the replaced app's codes no longer work
    TOTPDevice.objects.get(user=operator).throttle_reset()  # django-otp slows a device down after a wrong code
    assert signed_in(log_in("operator", PASSWORD, pyotp.parse_uri(fresh["otpauth_uri"]).now()))


def test_enrollment_refuses_unknown_and_non_staff_accounts():
    User.objects.create_user("citizen-helper", password=PASSWORD)
    for username in ("nobody", "citizen-helper"):
        code, problem = enroll(username)
        assert code == 1 and problem["code"] == "invalid_argument"


def test_createsuperuser_then_enrollment_gives_a_working_admin():
    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com", stdout=io.StringIO())
    user = User.objects.get(username="root")
    user.set_password(PASSWORD)
    user.save()
    code, output = enroll("root")
    assert code == 0 and signed_in(log_in("root", PASSWORD, pyotp.parse_uri(output["otpauth_uri"]).now()))


# --- throttling and lock-out (django-axes) -------------------------------------------------------


@override_settings(AXES_FAILURE_LIMIT=3)
def test_wrong_passwords_from_rotating_addresses_lock_the_account(operator, totp):
    for index in range(3):
        assert not signed_in(log_in("operator", "wrong", totp.now(), address=f"127.0.7.{index}"))
    response = log_in("operator", PASSWORD, totp.now(), address="127.0.7.200")  # right, from a fresh address
    assert response.status_code == 429 and not signed_in(response)
    assert {entry.object_id for entry in AuditEntry.objects.filter(action="staff.locked_out")} == {"operator"}


@override_settings(AXES_FAILURE_LIMIT=3)
def test_wrong_codes_count_as_failed_log_ins(operator, totp):
    for index in range(3):
        assert not signed_in(
            log_in("operator", PASSWORD, "000000" if totp.now() != "000000" else "111111", address=f"127.0.8.{index}")
        )
    assert log_in("operator", PASSWORD, totp.now(), address="127.0.8.200").status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3, NEMID_TRUSTED_PROXIES=[])
def test_a_forged_forwarded_for_neither_locks_out_another_address_nor_escapes_a_lock(operator, totp):
    # Password spraying from 127.0.0.5, each try claiming to come from the operator's own address.
    for index in range(3):
        log_in(f"guess{index}", "wrong", address="127.0.0.5", HTTP_X_FORWARDED_FOR="127.0.0.6")
    assert signed_in(log_in("operator", PASSWORD, totp.now(), address="127.0.0.6"))  # not locked out
    # The spraying address is locked, whatever it claims next.
    response = log_in("guess9", "wrong", address="127.0.0.5", HTTP_X_FORWARDED_FOR="127.0.9.9")
    assert response.status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_log_in_resets_the_count(operator, totp):
    for index in range(2):
        log_in("operator", "wrong", address=f"127.0.10.{index}")
    assert signed_in(log_in("operator", PASSWORD, totp.now()))
    log_in("operator", "wrong", address="127.0.10.9")
    assert log_in("operator", "wrong", address="127.0.10.8").status_code == 200  # the 2nd failure since, not the 4th


# --- the demo operator of `make run` ---------------------------------------------------------------


def test_the_demo_operator_signs_in_with_a_printed_one_time_code(settings, tmp_path):
    settings.DEBUG = True  # the fixture alone: mixed with @override_settings, DEBUG would outlive the test
    settings.NEMID_VAR_DIR = str(tmp_path)
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    admin = json.loads(out.getvalue())["admin"]
    codes = admin["one_time_codes"]
    assert len(codes) >= 3 and len(set(codes)) == len(codes)
    assert signed_in(log_in("admin", admin["password"], codes[0]))
    assert not signed_in(log_in("admin", admin["password"], codes[0]))  # each works once
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    assert codes[0] not in json.loads(out.getvalue())["admin"]["one_time_codes"]


def test_a_log_in_without_a_client_address_records_none(operator):
    """A request with no IP address (a log-in made in code, a server on a Unix socket without the
    proxy's header) is logged with no address: PostgreSQL's inet column refuses a placeholder word."""
    from axes.models import AccessLog
    from django.test import RequestFactory

    from accounts.login_throttle import client_ip

    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) is None
    request.META["REMOTE_ADDR"] = "192.0.2.7"
    assert client_ip(request) == "192.0.2.7"
    staff_login(Client(), operator)  # force_login: its request has no address
    assert AccessLog.objects.filter(username=operator.username).values_list("ip_address", flat=True).get() is None
