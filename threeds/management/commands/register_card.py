"""Register a payment card to a citizen (docs/contract §3).

Errors: unknown_user, invalid_pan (not digits, not 12-19 digits, Luhn failure) and
card_already_registered (409: the PAN is registered already, to this or another citizen)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from citizens.selectors import citizen_get_by_user_id
from nemid_app_backend.management_json import JsonCommand, command_actor
from threeds.services import card_register


class Command(JsonCommand):
    help = 'Register a card: --user-id 1234567890 --pan 4111111111111111. Prints {"card_id", "last4"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True, help="The citizen's 10-digit user ID.")
        parser.add_argument("--pan", required=True, help="The card number (12-19 digits, Luhn-checked); never stored in clear.")

    def run(self, **options: Any) -> dict[str, Any]:
        citizen = citizen_get_by_user_id(user_id=options["user_id"])
        card = card_register(citizen=citizen, pan=options["pan"], actor=command_actor(self.command_name))
        return {"card_id": str(card.id), "last4": card.last4}
