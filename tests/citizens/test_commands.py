"""docs/contract §3: enroll_citizen and issue_activation_code print one JSON object; errors exit 1 with a problem on stderr."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from citizens.models import ActivationCode, ActivationCodeRequest, Citizen

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return json.loads(out.getvalue())


def fail(*args: str) -> dict:
    """Run a command that must fail. Argument errors happen before call_command hands the command
    its stderr, so they go to the process's stderr: both are captured."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stderr(io.StringIO()) as process_err:
        call_command(*args, stdout=out, stderr=err)
    assert exit_info.value.code == 1
    assert out.getvalue() == ""
    problem = json.loads(err.getvalue() or process_err.getvalue())
    assert {"type", "title", "status", "detail", "code"} <= set(problem)
    return problem


def test_enroll_citizen():
    data = run("enroll_citizen", "--cpr", "0101901234", "--name", "Jens Hansen")
    assert set(data) == {"user_id", "activation_code", "activation_expires_at"}
    assert re.fullmatch(r"\d{10}", data["user_id"])
    assert re.fullmatch(r"(\w{4}-){3}\w{4}", data["activation_code"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["activation_expires_at"])
    citizen = Citizen.objects.get(user_id=data["user_id"])
    assert citizen.name == "Jens Hansen"
    assert citizen.activation_codes.get().created_by.startswith("cli:")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--cpr", "3102901234", "--name", "X"], "invalid_cpr"),
        (["--cpr", "0101301234-", "--name", "X"], "invalid_cpr"),
        (["--cpr", "010125-4000", "--name", "X"], "underage"),  # 7th digit 4, YY 25: born 2025
    ],
)
def test_enroll_citizen_errors(args, code):
    problem = fail("enroll_citizen", *args)
    assert problem["code"] == code
    assert not Citizen.objects.exists()


def test_enroll_citizen_twice():
    run("enroll_citizen", "--cpr", "0101901234", "--name", "Jens Hansen")
    problem = fail("enroll_citizen", "--cpr", "010190-1234", "--name", "Jens Hansen")
    assert problem["code"] == "already_enrolled" and problem["status"] == 409


def test_missing_argument_is_invalid_argument():
    problem = fail("enroll_citizen", "--cpr", "0101901234")
    assert problem["code"] == "invalid_argument" and "--name" in problem["detail"]


def test_bad_name_is_invalid_argument():
    problem = fail("enroll_citizen", "--cpr", "0101901234", "--name", "   ")
    assert problem["code"] == "invalid_argument" and "name" in problem["errors"]


def test_issue_activation_code(citizen):
    first = run("issue_activation_code", "--user-id", citizen.user_id)
    assert set(first) == {"activation_code", "expires_at"} and first["expires_at"].endswith("Z")
    second = run("issue_activation_code", "--user-id", citizen.user_id)
    assert second["activation_code"] != first["activation_code"]
    assert ActivationCode.objects.filter(citizen=citizen).count() == 2


@pytest.mark.parametrize("user_id", ["1234567890", "abc", "12345678901", ""])
def test_issue_activation_code_unknown_user(user_id):
    problem = fail("issue_activation_code", "--user-id", user_id)
    assert problem["code"] == "unknown_user"


def test_issue_activation_code_unknown_option():
    assert fail("issue_activation_code", "--user", "1")["code"] == "invalid_argument"


def test_the_commands_are_the_audited_out_of_band_path(citizen):
    """No second operator approves a command's code (shell access is the control); the audit log says
    which path made each code (docs/operations.md)."""
    run("issue_activation_code", "--user-id", citizen.user_id)
    enrolled = run("enroll_citizen", "--cpr", "0101901234", "--name", "Jens Hansen")
    issued = list(AuditEntry.objects.filter(action="activation_code.issued").order_by("created_at", "pk"))
    assert [entry.object_id for entry in issued] == [citizen.user_id, enrolled["user_id"]]
    for entry, command in zip(issued, ["issue_activation_code", "enroll_citizen"], strict=True):
        assert entry.data["via"] == "operator_command" and entry.actor.startswith("cli:")
        assert entry.actor.endswith(f":{command}")
    assert not ActivationCodeRequest.objects.exists()
