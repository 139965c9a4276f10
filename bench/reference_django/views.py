"""The Django reference's HTTP views: bench/reference/wsgi.py's endpoints as plain Django function
views (the reference's statements on Django's connection, its signature check), and its long poll
as an async view.

    POST /api/v1/approvals                          one INSERT, then `approval.created` to the device's group
    GET  /api/v1/approvals/{id}[?wait=N]            one SELECT; with ?wait=N (async, on uvicorn) answered when
                                                    the status is final or after N seconds
    POST /api/v1/device/approvals/{id}/decision     SELECT ... FOR UPDATE, the ES256 signature verified,
                                                    UPDATE, commit, then the status to the request's group
    GET  /healthz
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse

from bench.reference.common import FINAL, device_view, verify_es256
from bench.reference.wsgi import CREATE, DECIDE, LOCK, READ
from nemid_app_backend.transport import broadcast


def device_group(device_id: str) -> str:
    return f"ref.device.{device_id}"


def approval_group(approval_id: str) -> str:
    return f"ref.approval.{approval_id}"


def read_status(approval_id: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(READ, (approval_id,))
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def create(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    approval_id = str(uuid.uuid4())
    nonce = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(100):02d}" if body.get("number_matching") else None
    payment = body.get("payment")
    with connection.cursor() as cursor:
        params = (approval_id, nonce, body["type"], body["binding_message"], json.dumps(payment) if payment else None, code)
        cursor.execute(CREATE, (*params, body["login_hint"]))
        row = cursor.fetchone()
    if row is None:
        return JsonResponse({"code": "no_device"}, status=404)
    view = device_view(approval_id, body, payment, nonce, code)
    broadcast([(device_group(row[0]), {"type": "approval.created", "approval": view})])
    out: dict[str, Any] = {"id": approval_id, "status": "pending"}
    if code is not None:
        out["verification_code"] = code
    return JsonResponse(out, status=201)


async def approval(request: HttpRequest, approval_id: str) -> JsonResponse:
    """The status; with ?wait=N the final one, waiting up to N seconds for it (the group joined before
    the read, so that a decision in between is not missed)."""
    wait = float(request.GET.get("wait", "0"))
    if wait <= 0:
        status = await sync_to_async(read_status)(approval_id)
    else:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        group = approval_group(approval_id)
        await layer.group_add(group, channel)
        try:
            status = await sync_to_async(read_status)(approval_id)
            if status is not None and status not in FINAL:
                with contextlib.suppress(TimeoutError):
                    status = str((await asyncio.wait_for(layer.receive(channel), wait))["status"])
        finally:
            await layer.group_discard(group, channel)
    if status is None:
        return JsonResponse({"code": "not_found"}, status=404)
    return JsonResponse({"id": approval_id, "status": status})


def decide(request: HttpRequest, approval_id: str) -> JsonResponse:
    token = str(json.loads(request.body or b"{}").get("signed_decision", ""))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK, (approval_id,))
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"code": "not_found"}, status=404)
        status, nonce, point = row
        if status != "pending":
            return JsonResponse({"code": "not_pending"}, status=409)
        claims = verify_es256(token, bytes(point))
        if claims is None or claims.get("approval_id") != approval_id or claims.get("nonce") != nonce:
            return JsonResponse({"code": "bad_signature"}, status=400)
        status = "approved" if claims.get("decision") == "approve" else "denied"
        cursor.execute(DECIDE, (status, approval_id))
    broadcast([(approval_group(approval_id), {"type": "approval.final", "status": status})])
    return JsonResponse({"id": approval_id, "status": status})
