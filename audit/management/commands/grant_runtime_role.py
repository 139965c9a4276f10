"""Grant the runtime database role its privileges (PostgreSQL; docs/deployment.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from audit.roles import runtime_role_grant
from nemid_app_backend.exceptions import InvalidArgumentError
from nemid_app_backend.management_json import JsonCommand


class Command(JsonCommand):
    help = (
        "Grant the role the service runs as what it needs: read and write on every table, but only INSERT "
        "and SELECT on the audit log's. Run as the role that migrates, after migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default="", help="the runtime role (default: NEMID_DB_RUNTIME_ROLE)")

    def run(self, **options: Any) -> dict[str, Any]:
        role = options.get("role") or settings.NEMID_DB_RUNTIME_ROLE
        if not role:
            raise InvalidArgumentError("give --role or set NEMID_DB_RUNTIME_ROLE")
        return runtime_role_grant(role=role)
