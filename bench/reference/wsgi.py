"""The reference's REST endpoints as one WSGI callable (granian --interface wsgi bench.reference.wsgi:application).

    POST /api/v1/approvals                          one INSERT (the device found by the citizen's user id),
                                                    then `approval.created` published to the device's channel
    GET  /api/v1/approvals/{id}                     one SELECT
    POST /api/v1/device/approvals/{id}/decision     SELECT ... FOR UPDATE, the ES256 signature verified,
                                                    UPDATE, commit, then the status published
    GET  /healthz
Connections come from a psycopg pool per process, one per thread at most; Redis from redis-py's pool.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis
from psycopg_pool import ConnectionPool

from bench.reference.common import DATABASE_URL, POOL_SIZE, REDIS_URL, approval_channel, device_channel, device_view, verify_es256

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_clients: tuple[ConnectionPool, redis.Redis] | None = None
_first_request = threading.Lock()  # the first threads wait for one pool, not make one each


def clients() -> tuple[ConnectionPool, redis.Redis]:
    """The process's PostgreSQL pool and Redis client, made on the first request (after the server's fork)."""
    global _clients
    if _clients is None:
        with _first_request:
            if _clients is None:
                _clients = (
                    ConnectionPool(DATABASE_URL, min_size=1, max_size=POOL_SIZE, kwargs={"autocommit": True}, open=True),
                    redis.Redis.from_url(REDIS_URL),
                )
    return _clients


CREATE = """
INSERT INTO approval (id, device_id, status, nonce, kind, binding_message, payment, verification_code)
SELECT %s, id, 'pending', %s, %s, %s, %s, %s FROM device WHERE user_id = %s
RETURNING device_id
"""
LOCK = """
SELECT a.status, a.nonce, d.public_key FROM approval a JOIN device d ON d.id = a.device_id
WHERE a.id = %s FOR UPDATE OF a
"""
DECIDE = "UPDATE approval SET status = %s, decided_at = now() WHERE id = %s"
READ = "SELECT status FROM approval WHERE id = %s"


def respond(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return dict(json.loads(environ["wsgi.input"].read(length))) if length else {}


def create(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    body = read_json(environ)
    approval_id = str(uuid.uuid4())
    nonce = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(100):02d}" if body.get("number_matching") else None
    payment = body.get("payment")
    pool, publisher = clients()
    with pool.connection() as conn:
        row = conn.execute(
            CREATE,
            (
                approval_id,
                nonce,
                body["type"],
                body["binding_message"],
                json.dumps(payment) if payment else None,
                code,
                body["login_hint"],
            ),
        ).fetchone()
    if row is None:
        return respond(start_response, "404 Not Found", {"code": "no_device"})
    view = device_view(approval_id, body, payment, nonce, code)
    publisher.publish(device_channel(row[0]), json.dumps({"type": "approval.created", "approval": view}))
    out: dict[str, Any] = {"id": approval_id, "status": "pending"}
    if code is not None:
        out["verification_code"] = code
    return respond(start_response, "201 Created", out)


def read(approval_id: str, start_response: StartResponse) -> list[bytes]:
    pool, _ = clients()
    with pool.connection() as conn:
        row = conn.execute(READ, (approval_id,)).fetchone()
    if row is None:
        return respond(start_response, "404 Not Found", {"code": "not_found"})
    return respond(start_response, "200 OK", {"id": approval_id, "status": row[0]})


def decide(environ: dict[str, Any], approval_id: str, start_response: StartResponse) -> list[bytes]:
    token = str(read_json(environ).get("signed_decision", ""))
    pool, publisher = clients()
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(LOCK, (approval_id,)).fetchone()
        if row is None:
            return respond(start_response, "404 Not Found", {"code": "not_found"})
        status, nonce, point = row
        if status != "pending":
            return respond(start_response, "409 Conflict", {"code": "not_pending"})
        claims = verify_es256(token, bytes(point))
        if claims is None or claims.get("approval_id") != approval_id or claims.get("nonce") != nonce:
            return respond(start_response, "400 Bad Request", {"code": "bad_signature"})
        status = "approved" if claims.get("decision") == "approve" else "denied"
        conn.execute(DECIDE, (status, approval_id))
    publisher.publish(approval_channel(approval_id), status)
    return respond(start_response, "200 OK", {"id": approval_id, "status": status})


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    parts = path.strip("/").split("/")
    if method == "POST" and path == "/api/v1/approvals":
        return create(environ, start_response)
    if method == "GET" and len(parts) == 4 and parts[:3] == ["api", "v1", "approvals"]:
        return read(parts[3], start_response)
    if method == "POST" and len(parts) == 6 and parts[:4] == ["api", "v1", "device", "approvals"] and parts[5] == "decision":
        return decide(environ, parts[4], start_response)
    if path == "/healthz":
        return respond(start_response, "200 OK", {"status": "ok"})
    return respond(start_response, "404 Not Found", {"code": "not_found"})
