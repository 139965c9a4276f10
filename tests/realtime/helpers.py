"""Helpers shared by the real-time, push and webhook tests: approvals made straight from the
models (the hooks are what is under test), and a local HTTP server that records what it gets."""

from __future__ import annotations

import datetime
import http.server
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from approvals.models import ApprovalRequest


def make_approval(*, rp: Any, citizen: Any, status: str = ApprovalRequest.Status.PENDING, **fields: Any) -> ApprovalRequest:
    approval = new_approval(rp=rp, citizen=citizen, status=status, **fields)
    approval.save(force_insert=True)
    return approval


def new_approval(*, rp: Any, citizen: Any, status: str = ApprovalRequest.Status.PENDING, **fields: Any) -> ApprovalRequest:
    """A pending payment request, not saved."""
    now = timezone.now()
    values: dict[str, Any] = {
        "relying_party": rp,
        "citizen": citizen,
        "type": ApprovalRequest.Type.PAYMENT,
        "status": status,
        "binding_message": "Order 10023 at Webshop ApS",
        "payment_amount": "149.95",
        "payment_currency": "DKK",
        "payment_payee": "Webshop ApS",
        "nonce": secrets.token_urlsafe(24),
        "created_at": now,
        "expires_at": now + datetime.timedelta(seconds=300),
    }
    values.update(fields)
    return ApprovalRequest(**values)


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threading HTTP/1.1 server on 127.0.0.1. `replies` are used in order, the last one repeats."""

    def __init__(self, *replies: Reply, responder: Callable[[Received], Reply] | None = None) -> None:
        self.replies = list(replies) or [Reply()]
        self.responder = responder
        self.received: list[Received] = []
        self.arrived = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                received = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                owner.received.append(received)
                owner.arrived.set()
                if owner.responder is not None:
                    reply = owner.responder(received)
                else:
                    reply = owner.replies.pop(0) if len(owner.replies) > 1 else owner.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
