"""Enroll a citizen and issue the first activation code (docs/contract §3).

The out-of-band path: no second operator approves (the admin asks for one), because running it needs
shell access on the server; its `activation_code.issued` audit entry carries `"via": "operator_command"`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from citizens.services import OUT_OF_BAND, citizen_enroll
from nemid_app_backend.management_json import JsonCommand, command_actor
from nemid_app_backend.timefmt import rfc3339


class Command(JsonCommand):
    help = 'Enroll a citizen: --cpr DDMMYY-SSSS --name "Jens Hansen". Prints {"user_id", "activation_code", "activation_expires_at"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cpr", required=True, help="CPR number, DDMMYY-SSSS or DDMMYYSSSS.")
        parser.add_argument("--name", required=True, help="The citizen's name.")

    def run(self, **options: Any) -> dict[str, Any]:
        citizen, code, expires_at = citizen_enroll(
            cpr=options["cpr"],
            name=options["name"],
            actor=command_actor(self.command_name),
            audit_data=OUT_OF_BAND,
        )
        return {
            "user_id": citizen.user_id,
            "activation_code": code,
            "activation_expires_at": rfc3339(expires_at, whole_seconds=True),
        }
