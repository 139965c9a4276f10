"""Create a relying party and print its credentials once (docs/contract §3)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from nemid_app_backend.management_json import JsonCommand, command_actor
from relying_parties.services import relying_party_create


class Command(JsonCommand):
    help = 'Create a relying party: --name NAME [--callback-url URL] [--allow login,payment,3ds]. Prints {"client_id", "api_key", "webhook_secret"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--callback-url", default="", help="Default webhook target (https).")
        parser.add_argument("--allow", default="login,payment", help="Comma-separated: login, payment, 3ds.")

    def run(self, **options: Any) -> dict[str, Any]:
        allowed = [item.strip() for item in options["allow"].split(",") if item.strip()]
        rp, api_key, webhook_secret = relying_party_create(
            name=options["name"],
            callback_url=options["callback_url"],
            allowed_types=allowed,
            actor=command_actor(self.command_name),
        )
        return {"client_id": rp.client_id, "api_key": api_key, "webhook_secret": webhook_secret}
