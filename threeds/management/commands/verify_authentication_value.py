"""Check a 3-D Secure authentication value against its transaction (docs/contract §8).

Prints {"acs_trans_id", "valid": true}; a value that does not match is exit 1 with the problem
`authentication_value_mismatch`, an unknown acsTransID `not_found`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from nemid_app_backend.exceptions import AuthenticationValueMismatchError
from nemid_app_backend.management_json import JsonCommand
from threeds.selectors import threeds_authentication_get
from threeds.services import threeds_authentication_value_verify


class Command(JsonCommand):
    help = 'Verify an authenticationValue: --acs-trans-id <uuid> --authentication-value <base64>. Prints {"valid": true}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--acs-trans-id", required=True, help="The acsTransID of the authentication.")
        parser.add_argument("--authentication-value", required=True, help="The base64 authenticationValue to check.")

    def run(self, **options: Any) -> dict[str, Any]:
        authentication = threeds_authentication_get(acs_trans_id=options["acs_trans_id"])
        if not threeds_authentication_value_verify(
            authentication=authentication, authentication_value=options["authentication_value"]
        ):
            raise AuthenticationValueMismatchError()
        return {"acs_trans_id": str(authentication.acs_trans_id), "valid": True}
