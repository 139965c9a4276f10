"""A small base for operator commands that speak JSON (docs/contract §3).

Success: one JSON object on stdout. Failure: exit status 1 and one problem object (RFC 9457
shape, with the contract's `code`) on stderr. Bad command-line arguments are `invalid_argument`,
and so are validation errors of the services the commands call.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser

from nemid_app_backend.exceptions import ApplicationError, InvalidArgumentError, ValidationError


def command_actor(command_name: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"cli:{user}:{command_name}"[:128]


class CommandFailed(Exception):
    """Raised by a JSON command to end with exit status 1 after writing its problem object."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", ""))
        self.problem = problem


class JsonCommand(BaseCommand):
    """Subclasses implement `run(**options) -> dict` and raise ApplicationError on failure."""

    requires_system_checks: list[str] = []

    @property
    def command_name(self) -> str:
        return self.__class__.__module__.rsplit(".", 1)[-1]

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # No abbreviated options: `--user` must not silently mean `--user-id`.
        parser = super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

        def error(message: str) -> NoReturn:
            self._fail(InvalidArgumentError(message).problem())

        parser.error = error  # type: ignore[method-assign]
        return parser

    def _fail(self, problem: dict[str, Any]) -> NoReturn:
        self.stderr.write(json.dumps(problem, ensure_ascii=False))
        sys.exit(1)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.run(**options)
        except ValidationError as exc:
            errors = exc.extra.get("errors", {})
            self._fail(InvalidArgumentError(exc.detail, errors=errors).problem())
        except ApplicationError as exc:
            self._fail(exc.problem())
        except CommandFailed as exc:
            self._fail(exc.problem)
        self.stdout.write(json.dumps(result, ensure_ascii=False))

    def run(self, **options: Any) -> dict[str, Any]:
        raise NotImplementedError
