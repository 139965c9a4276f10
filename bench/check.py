"""The soak's view from the database: run with the stack's settings, print one JSON object.

    python -m bench.check --ids created.json [--grace 10]

For every request of the benchmark relying party (and every id the load generator was given a 201
for): its status, whether it is final, whether it is still pending past its expiry plus `--grace`
seconds (the beat interval and some slack), and the webhook outbox events written for it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from typing import Any

import django


def check(ids: list[str], grace: float) -> dict[str, Any]:
    from django.utils import timezone

    from approvals.models import ApprovalRequest
    from webhooks.models import WebhookEvent

    now = timezone.now()
    final = {str(s) for s in ApprovalRequest.FINAL_STATUSES}
    rows = {str(a["id"]): a for a in ApprovalRequest.objects.values("id", "status", "expires_at")}
    events: dict[str, list[dict[str, Any]]] = {}
    for event in WebhookEvent.objects.values("msg_id", "object_id", "event_type", "status", "attempts"):
        events.setdefault(event["object_id"], []).append(dict(event))
    missing = [i for i in ids if i not in rows]
    not_final = [i for i, a in rows.items() if a["status"] not in final]
    overdue = [
        i for i, a in rows.items() if a["status"] == "pending" and a["expires_at"] < now - datetime.timedelta(seconds=grace)
    ]
    return {
        "requests": len(rows),
        "missing": missing,
        "not_final": not_final,
        "pending_past_expiry": overdue,
        "statuses": {i: a["status"] for i, a in rows.items()},
        "webhook_events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")
    django.setup()
    with open(args.ids) as handle:
        ids = json.load(handle)
    print(json.dumps(check(ids, args.grace), default=str))


if __name__ == "__main__":
    main()
