"""Create a relying party with its OpenID Connect client and print its credentials once (docs/contract §3, §10).

The command lives with the OpenID provider because a relying party is registered as one record
with both: the §5 API key and webhook secret, and the client secret and redirect URIs of §10."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from nemid_app_backend.management_json import JsonCommand, command_actor
from oidc.services import relying_party_register


class Command(JsonCommand):
    help = (
        "Create a relying party: --name NAME [--callback-url URL] [--allow login,payment,3ds] [--redirect-uri URL ...] "
        "[--post-logout-redirect-uri URL ...] [--ciba-mode poll|ping] [--ciba-notification-endpoint URL]. "
        'Prints {"client_id", "api_key", "webhook_secret", "client_secret"}.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--callback-url", default="", help="Default webhook target (https).")
        parser.add_argument("--allow", default="login,payment", help="Comma-separated: login, payment, 3ds.")
        parser.add_argument(
            "--redirect-uri",
            action="append",
            default=[],
            help="OpenID Connect redirect URI (repeatable): https, or http on a loopback address.",
        )
        parser.add_argument(
            "--post-logout-redirect-uri", action="append", default=[], help="Where RP-initiated logout may return (repeatable)."
        )
        parser.add_argument("--ciba-mode", choices=["poll", "ping"], default="", help="CIBA token delivery mode.")
        parser.add_argument(
            "--ciba-notification-endpoint", default="", help="Ping mode: the client notification endpoint (https)."
        )

    def run(self, **options: Any) -> dict[str, Any]:
        allowed = [item.strip() for item in options["allow"].split(",") if item.strip()]
        registration = relying_party_register(
            name=options["name"],
            callback_url=options["callback_url"],
            allowed_types=allowed,
            redirect_uris=options["redirect_uri"],
            post_logout_redirect_uris=options["post_logout_redirect_uri"],
            ciba_mode=options["ciba_mode"],
            ciba_notification_endpoint=options["ciba_notification_endpoint"],
            actor=command_actor(self.command_name),
        )
        return {
            "client_id": registration.relying_party.client_id,
            "api_key": registration.api_key,
            "webhook_secret": registration.webhook_secret,
            "client_secret": registration.client_secret,
        }
