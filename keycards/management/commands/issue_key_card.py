"""Issue a key card to a citizen (docs/contract §9): the codes are printed this once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from citizens.selectors import citizen_get_by_user_id
from keycards.services import key_card_issue
from nemid_app_backend.management_json import JsonCommand, command_actor


class Command(JsonCommand):
    help = 'Issue a key card: --user-id 1234567890. Prints {"card_id", "serial", "status", "codes"} once.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True, help="The citizen's 10-digit user ID.")

    def run(self, **options: Any) -> dict[str, Any]:
        citizen = citizen_get_by_user_id(user_id=options["user_id"])
        issued = key_card_issue(citizen=citizen, actor=command_actor(self.command_name))
        return {"card_id": str(issued.card.id), "serial": issued.card.serial, "status": issued.card.status, "codes": issued.codes}
