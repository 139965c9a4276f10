"""Enroll a staff account's authenticator app (TOTP, RFC 6238) for the admin's one-time codes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.services import staff_totp_enroll, staff_user_get
from nemid_app_backend.management_json import JsonCommand, command_actor


class Command(JsonCommand):
    help = (
        "Enroll a TOTP device for a staff account: --username NAME [--replace]. Prints "
        '{"username", "device", "otpauth_uri"}; put the URI into an authenticator app (it is shown this once).'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True, help="The staff account's username.")
        parser.add_argument("--replace", action="store_true", help="Remove the account's TOTP device(s) and enroll a new one.")

    def run(self, **options: Any) -> dict[str, Any]:
        user = staff_user_get(username=options["username"])
        device, uri = staff_totp_enroll(user=user, replace=options["replace"], actor=command_actor(self.command_name))
        return {"username": user.username, "device": device.persistent_id, "otpauth_uri": uri}
