"""Verify the audit log's hash chain (docs/contract §3, §7)."""

from __future__ import annotations

from typing import Any

from audit.selectors import audit_chain_verify
from nemid_app_backend.management_json import CommandFailed, JsonCommand


class Command(JsonCommand):
    help = 'Verify the audit hash chain. Prints {"entries": N, "ok": true}, or exits 1 naming the first broken entry.'

    def run(self, **options: Any) -> dict[str, Any]:
        report = audit_chain_verify()
        if not report.ok:
            raise CommandFailed(
                {
                    "type": "about:blank",
                    "title": "Audit log broken",
                    "status": 409,
                    "detail": f"Entry {report.broken_seq}: {report.reason}.",
                    "code": "audit_chain_broken",
                    "entries": report.entries,
                    "ok": False,
                    "broken_seq": report.broken_seq,
                    "reason": report.reason,
                }
            )
        return {"entries": report.entries, "ok": True}
