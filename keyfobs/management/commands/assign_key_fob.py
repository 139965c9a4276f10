"""Assign a key fob to a citizen by its serial (docs/contract §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from citizens.selectors import citizen_get_by_user_id
from keyfobs.services import key_fob_assign
from nemid_app_backend.management_json import JsonCommand, command_actor


class Command(JsonCommand):
    help = 'Assign a key fob: --user-id 1234567890 --serial S. Prints {"serial", "user_id"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True, help="The citizen's 10-digit user ID.")
        parser.add_argument("--serial", required=True, help="The fob's serial, as imported.")

    def run(self, **options: Any) -> dict[str, Any]:
        citizen = citizen_get_by_user_id(user_id=options["user_id"])
        fob = key_fob_assign(citizen=citizen, serial=options["serial"], actor=command_actor(self.command_name))
        return {"serial": fob.serial, "user_id": citizen.user_id}
