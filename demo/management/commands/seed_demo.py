"""Set up a demo (used by `make run`): a relying party, a citizen with a fresh activation code,
and in DEBUG an admin/admin superuser. Safe to run again: it reuses what exists and re-issues
only the secrets it must print (the API key and the activation code)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from citizens.selectors import citizen_find_by_cpr
from citizens.services import activation_code_issue, citizen_enroll
from nemid_app_backend.exceptions import ApplicationError
from nemid_app_backend.management_json import command_actor
from nemid_app_backend.timefmt import rfc3339
from relying_parties.models import APPROVAL_TYPES
from relying_parties.selectors import relying_party_get_by_name
from relying_parties.services import (
    relying_party_create,
    relying_party_rotate_key,
    relying_party_update,
    relying_party_webhook_secret,
)
from threeds.models import Card
from threeds.services import card_register, pan_hash

DEMO_RP_NAME = "Webshop ApS"
DEMO_CPR = "010190-1234"  # a made-up number (no modulus-11 check since 2007)
DEMO_CITIZEN_NAME = "Jens Hansen"
DEMO_PAN = "4111111111111111"  # the well-known Visa test card number


class Command(BaseCommand):
    help = "Create or reuse the demo relying party and citizen; print the API key, user ID, activation code and where to go."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or settings.NEMID_DEMO):
            raise CommandError(
                "seed_demo makes a well-known demo citizen and keys: run it only with DJANGO_DEBUG=1 or NEMID_DEMO=1."
            )
        actor = command_actor("seed_demo")
        try:
            result = self._seed(actor=actor)
        except ApplicationError as error:
            raise CommandError(f"{error.code}: {error.detail}") from error
        host = options["host"]
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address in a URL
        base = f"http://{host}:{options['port']}"
        result["urls"] = {"admin": f"{base}/admin/", "api_docs": f"{base}/api/docs/", "demo": f"{base}/demo/"}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        lines = [
            "",
            "nemid-app-backend demo",
            f"  Relying party      {result['relying_party']['name']} (client_id {result['relying_party']['client_id']})",
            f"  API key            {result['relying_party']['api_key']}",
            f"  Webhook secret     {result['relying_party']['webhook_secret']}",
            f"  Citizen user ID    {result['citizen']['user_id']} ({result['citizen']['name']})",
            f"  Activation code    {result['citizen']['activation_code']} (expires {result['citizen']['activation_expires_at']})",
            f"  Card               {result['citizen']['card']}",
        ]
        if result.get("admin"):
            lines.append(f"  Admin login        {result['admin']['username']} / {result['admin']['password']}")
        lines += [
            "",
            f"  Admin              {result['urls']['admin']}",
            f"  API docs           {result['urls']['api_docs']}",
            f"  Demo               {result['urls']['demo']}",
            "",
        ]
        self.stdout.write("\n".join(lines))

    @transaction.atomic
    def _seed(self, *, actor: str) -> dict[str, Any]:
        rp = relying_party_get_by_name(name=DEMO_RP_NAME)
        if rp is None:
            rp, api_key, _ = relying_party_create(name=DEMO_RP_NAME, allowed_types=list(APPROVAL_TYPES), actor=actor)
        else:
            rp = relying_party_update(relying_party=rp, actor=actor, allowed_types=list(APPROVAL_TYPES), is_active=True)
            rp, api_key = relying_party_rotate_key(relying_party=rp, actor=actor)
        citizen = citizen_find_by_cpr(cpr=DEMO_CPR)
        if citizen is None:
            citizen, code, expires_at = citizen_enroll(cpr=DEMO_CPR, name=DEMO_CITIZEN_NAME, actor=actor)
        else:
            code, row = activation_code_issue(citizen=citizen, actor=actor)
            expires_at = row.expires_at
        if not Card.objects.filter(pan_hash=pan_hash(DEMO_PAN)).exists():
            card_register(citizen=citizen, pan=DEMO_PAN, actor=actor)
        result: dict[str, Any] = {
            "relying_party": {
                "name": rp.name,
                "client_id": rp.client_id,
                "api_key": api_key,
                "webhook_secret": relying_party_webhook_secret(rp),
            },
            "citizen": {
                "user_id": citizen.user_id,
                "name": citizen.name,
                "activation_code": code,
                "activation_expires_at": rfc3339(expires_at, whole_seconds=True),
                "card": f"{DEMO_PAN} (test card registered to the demo citizen)",
            },
        }
        if settings.DEBUG:
            user_model = get_user_model()
            user = user_model.objects.filter(username="admin").first()
            if user is None:
                user = user_model.objects.create_superuser("admin", "admin@localhost", "admin")
            # Never reset a password someone changed; just do not claim it is "admin" then.
            result["admin"] = {
                "username": "admin",
                "password": "admin" if user.check_password("admin") else "(changed; unchanged by seed_demo)",
            }
        return result
