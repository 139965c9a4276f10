"""The keyed hashes of the audit log: pure functions, no ORM.

An entry's MAC is the HMAC (the server's keyed hash, nemid_app_backend.secrets) of its own content,
written with the entry in the transaction of the change it records. Sealing links the entries, in
the order they are sealed, into a chain: link n is the keyed hash of link n-1, the position n, the
entry's id and the entry's MAC. Without the server key neither can be recomputed, so an edited,
removed, inserted or re-chained entry shows, whoever has write access to the database.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from nemid_app_backend.secrets import keyed_hash

GENESIS_HASH = "0" * 64


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def canonical_data(data: dict[str, Any] | None) -> Any:
    """`data` as it reads back from a JSON column (dates and UUIDs as strings)."""
    return json.loads(json.dumps(data or {}, default=str))


def entry_mac(*, created_at: datetime.datetime, action: str, actor: str, object_type: str, object_id: str, data: Any) -> str:
    canonical = json.dumps(
        {
            "created_at": format_time(created_at),
            "action": action,
            "actor": actor,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return keyed_hash("audit-entry", canonical)


def link_hash(*, prev_hash: str, seq: int, entry_id: int, mac: str) -> str:
    return keyed_hash("audit-chain", f"{prev_hash}:{seq}:{entry_id}:{mac}")
