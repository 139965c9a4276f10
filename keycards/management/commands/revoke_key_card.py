"""Revoke a key card by its serial (docs/contract §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from keycards.models import KeyCard
from keycards.services import key_card_revoke
from nemid_app_backend.exceptions import UnknownKeyCardError
from nemid_app_backend.management_json import JsonCommand, command_actor


class Command(JsonCommand):
    help = 'Revoke a key card: --serial S [--reason TEXT]. Prints {"card_id", "serial", "status"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--serial", required=True)
        parser.add_argument("--reason", default="")

    def run(self, **options: Any) -> dict[str, Any]:
        serial = options["serial"]
        card = KeyCard.objects.filter(serial=serial).first() if serial.isascii() and serial.isdigit() else None
        if card is None:
            raise UnknownKeyCardError()
        card = key_card_revoke(card=card, actor=command_actor(self.command_name), reason=options["reason"])
        return {"card_id": str(card.id), "serial": card.serial, "status": card.status}
