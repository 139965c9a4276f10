import json

from django.core.management.base import BaseCommand

from signing.services import signing_key_rotate


class Command(BaseCommand):
    help = "Create a new server signing key; previous keys stay in the JWKS so issued tokens still verify."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        key = signing_key_rotate(actor="operator:command")
        self.stdout.write(json.dumps({"kid": key.kid, "created_at": key.created_at.isoformat()}))
