"""Print the key cards queued for printing (docs/contract §9): one JSON object per line, each card once."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from keycards.services import key_cards_print_queued
from nemid_app_backend.management_json import command_actor


class Command(BaseCommand):
    help = (
        'Print each queued key card once, one JSON line {"card_id", "serial", "user_id", "codes"} per card, and mark it printed.'
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        for card in key_cards_print_queued(actor=command_actor("print_key_cards")):
            self.stdout.write(json.dumps(card, ensure_ascii=False))
