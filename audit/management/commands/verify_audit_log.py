"""Seal and verify the audit log (docs/contract §3, §7), optionally against checkpoints an auditor kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from audit.selectors import CheckpointDocumentError, audit_chain_verify, checkpoints_from_document
from audit.services import audit_seal
from nemid_app_backend.exceptions import AuditChainBrokenError, InvalidArgumentError
from nemid_app_backend.management_json import JsonCommand


class Command(JsonCommand):
    help = (
        'Seal what can be sealed, then verify the audit chain. Prints {"entries": N, "ok": true}, or exits 1 '
        "naming the first broken entry. --checkpoint FILE also compares the chain with checkpoints kept from "
        "GET /api/v1/audit/checkpoints (their signatures are checked)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", metavar="FILE", help="checkpoints kept by an auditor (JSON or JSON Lines)")

    def run(self, **options: Any) -> dict[str, Any]:
        checkpoints = None
        if options.get("checkpoint"):
            try:
                text = Path(options["checkpoint"]).read_text(encoding="utf-8")
                checkpoints = checkpoints_from_document(text)
            except (OSError, UnicodeDecodeError, CheckpointDocumentError) as exc:
                raise InvalidArgumentError(f"--checkpoint: {exc}") from exc
        audit_seal()
        report = audit_chain_verify(checkpoints=checkpoints)
        if not report.ok:
            where = f"Entry {report.broken_seq}" if report.broken_seq is not None else f"Entry id {report.entry_id}"
            raise AuditChainBrokenError(
                f"{where}: {report.reason}.",
                entries=report.entries,
                ok=False,
                broken_seq=report.broken_seq,
                entry_id=report.entry_id,
                reason=report.reason,
            )
        result: dict[str, Any] = {"entries": report.entries, "ok": True}
        if checkpoints is not None:
            result["checkpoints"] = len(checkpoints)
        return result
