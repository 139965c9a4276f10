"""Issue a new activation code for an enrolled citizen (docs/contract §3).

The out-of-band path: no second operator approves (the admin asks for one), because running it needs
shell access on the server; its audit entry carries `"via": "operator_command"`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from citizens.selectors import citizen_get_by_user_id
from citizens.services import OUT_OF_BAND, activation_code_issue
from nemid_app_backend.management_json import JsonCommand, command_actor
from nemid_app_backend.timefmt import rfc3339


class Command(JsonCommand):
    help = 'Issue an activation code: --user-id 1234567890. Prints {"activation_code", "expires_at"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True, help="The citizen's 10-digit user ID.")

    def run(self, **options: Any) -> dict[str, Any]:
        citizen = citizen_get_by_user_id(user_id=options["user_id"])
        code, row = activation_code_issue(citizen=citizen, actor=command_actor(self.command_name), audit_data=OUT_OF_BAND)
        return {"activation_code": code, "expires_at": rfc3339(row.expires_at, whole_seconds=True)}
