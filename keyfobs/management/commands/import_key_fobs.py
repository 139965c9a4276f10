"""Import key fobs from a vendor's PSKC file (RFC 6030; docs/contract §9)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from keyfobs.app_settings import app_settings
from keyfobs.services import key_fobs_import
from nemid_app_backend.exceptions import InvalidArgumentError
from nemid_app_backend.management_json import JsonCommand, command_actor


class Command(JsonCommand):
    help = (
        'Import TOTP key fobs: --file tokens.pskc. Prints {"imported": N, "serials": [...], "skipped": [...]}. '
        "An encrypted file takes its pre-shared key (hex) or password from --key-file or --password-file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="The PSKC file.")
        parser.add_argument("--key-file", help="A file holding the pre-shared key, in hex.")
        parser.add_argument("--password-file", help="A file holding the password the file's key is derived from.")

    @staticmethod
    def _read(path: str, *, limit: int) -> bytes:
        file = Path(path)
        try:
            if not file.is_file() or os.path.getsize(file) > limit:
                raise InvalidArgumentError(f"{path} is not a readable file of at most {limit} bytes.")
            return file.read_bytes()
        except OSError as exc:
            raise InvalidArgumentError(f"{path} cannot be read.") from exc

    def run(self, **options: Any) -> dict[str, Any]:
        source = self._read(options["file"], limit=app_settings.MAX_IMPORT_BYTES)
        key = password = None
        if options.get("key_file"):
            try:
                key = bytes.fromhex(self._read(options["key_file"], limit=1024).decode().strip())
            except (UnicodeDecodeError, ValueError) as exc:
                raise InvalidArgumentError("The key file must hold the key in hex.") from exc
        if options.get("password_file"):
            try:
                password = self._read(options["password_file"], limit=1024).decode().rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise InvalidArgumentError("The password file must be UTF-8 text.") from exc
        result = key_fobs_import(source=source, actor=command_actor(self.command_name), password=password, key=key)
        return {"imported": len(result.serials), "serials": result.serials, "skipped": result.skipped}
