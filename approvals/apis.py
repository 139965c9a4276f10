"""HTTP endpoints of approval requests: the RP side (docs/contract §5) and the device side (§6).

Thin: validate input, call one service or selector, shape the output with the shared
representations in `approvals.events`.

`GET /api/v1/approvals/{id}?wait=N` is a long poll, served by the DRF view `ApprovalDetailApi`
like the plain read. The view authenticates and validates, gives its database connection back,
then runs the coroutine `_long_poll` to the end (`async_to_sync`): between short reads (on
connections of their own, closed again at once) it waits on the channel-layer group of the
request (the event hooks send `approval.changed` on commit), re-reading at least every
LONG_POLL_RECHECK_INTERVAL seconds and at expires_at, so it also works when the channel layer is
down. The request's thread is held for the wait and no database connection is. Under uvicorn
(`make run`, the realtime process of the production shape) that thread is the one Django's ASGI
handler gives every request anyway, and the wait itself runs on the event loop; on the WSGI server
it is a worker thread, which is why the proxy sends long polls to uvicorn (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.app_settings import app_settings
from approvals.events import approval_group, approval_resource, final_resource
from approvals.limits import RELYING_PARTY_WAITS
from approvals.models import ApprovalRequest
from approvals.selectors import (
    approval_get_for_relying_party,
    approval_has_overdue_pending,
    approval_requests_pending_for_device,
    parse_approval_id,
)
from approvals.serializers import ApprovalCreateSerializer, DecisionRequestSerializer
from approvals.services import (
    approval_request_cancel,
    approval_request_create,
    approval_request_decide,
    approval_request_expire_if_overdue,
    approvals_expire_overdue,
)
from approvals.shapes import (
    ApprovalResourceSerializer,
    DecisionResponseSerializer,
    DeviceApprovalListSerializer,
)
from devices.authentication import DeviceTokenAuthentication
from devices.models import Device
from nemid_app_backend.exception_handlers import to_application_error
from nemid_app_backend.exceptions import (
    ApplicationError,
    InvalidBindingMessageError,
    NotFoundError,
    ValidationError,
)
from relying_parties.authentication import (
    RelyingPartyAuthentication,
)
from relying_parties.models import RelyingParty

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255
_IDEMPOTENCY_KEY_RE = re.compile(r"[\x20-\x7e]+")
_WAIT_RE = re.compile(r"[0-9]{1,2}")


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"application/problem+json: {description}")


_APPROVAL_ID = OpenApiParameter("approval_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The approval request's id.")

# Requests that work as they stand against `make run`'s demo data (the demo fills in its citizen's
# user ID and the latest ids when it is on: demo/openapi.py).
EXAMPLE_USER_ID = "1234567890"
_CREATE_EXAMPLES = [
    OpenApiExample(
        "Payment",
        value={
            "type": "payment",
            "login_hint": EXAMPLE_USER_ID,
            "binding_message": "Order 10023",
            "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
        },
        request_only=True,
    ),
    OpenApiExample(
        "Login",
        value={"type": "login", "login_hint": EXAMPLE_USER_ID, "binding_message": "Log in to Webshop ApS"},
        request_only=True,
    ),
]


def _relying_party(request: Request) -> RelyingParty:
    rp = request.user
    assert isinstance(rp, RelyingParty)
    return rp


def _device(request: Request) -> Device:
    device = request.user
    assert isinstance(device, Device)
    return device


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ValidationError({"Idempotency-Key": [f"1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."]})
    return key


def _fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _creation_error(errors: Any) -> ApplicationError:
    """validation_error, or invalid_binding_message when the binding message is among the errors."""
    error = to_application_error(DrfValidationError(errors))
    assert error is not None
    flattened = error.extra.get("errors", {})
    if "binding_message" in flattened:
        return InvalidBindingMessageError(errors=flattened)
    return error


class ApprovalCreateApi(APIView):
    authentication_classes = [RelyingPartyAuthentication]

    @extend_schema(
        operation_id="approvals_create",
        summary="Create a login or payment approval request",
        request=ApprovalCreateSerializer,
        examples=_CREATE_EXAMPLES,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="At most 255 characters. The same key with the same body within 24 h returns the first "
                "request again (same id, header Idempotent-Replayed: true); with a different body: 422 idempotency_key_reused.",
            )
        ],
        responses={
            201: ApprovalResourceSerializer,
            400: _problem("validation_error, invalid_binding_message"),
            401: _problem("invalid_api_key"),
            403: _problem("type_not_allowed"),
            409: _problem("no_active_device"),
            422: _problem("unknown_user, idempotency_key_reused"),
            423: _problem("user_locked (with Retry-After)"),
            429: _problem(
                "too_many_pending (Retry-After: seconds until the earliest pending request expires); rate_limited "
                "(the prompt limits per citizen and per relying party; Retry-After: seconds until one more request "
                "fits; `limit`: citizen or relying_party)"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        rp = _relying_party(request)
        key = _idempotency_key(request)
        serializer = ApprovalCreateSerializer(data=request.data)
        if not serializer.is_valid():
            raise _creation_error(serializer.errors)
        result = approval_request_create(
            relying_party=rp, idempotency_key=key, fingerprint=_fingerprint(request.data), **serializer.validated_data
        )
        response = Response(approval_resource(result.approval), status=201)
        response["Location"] = f"/api/v1/approvals/{result.approval.id}"
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _approval_for_rp_fresh(relying_party: RelyingParty, approval_id: object) -> ApprovalRequest:
    approval = approval_get_for_relying_party(relying_party=relying_party, approval_id=approval_id)
    if approval is None:
        raise NotFoundError()
    return approval_request_expire_if_overdue(approval=approval)


class ApprovalDetailApi(APIView):
    authentication_classes = [RelyingPartyAuthentication]

    @extend_schema(
        operation_id="approvals_retrieve",
        summary="Read an approval request, optionally waiting for it to leave pending",
        parameters=[
            _APPROVAL_ID,
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description="Long poll: hold the request until the status leaves pending or this many seconds (1-30) pass.",
            ),
        ],
        responses={
            200: ApprovalResourceSerializer,
            400: _problem("validation_error (wait not 1-30)"),
            401: _problem("invalid_api_key"),
            404: _problem("not_found (unknown id, or another relying party's)"),
            429: _problem(
                "too_many_concurrent_requests (with wait: the relying party holds its maximum of long polls and "
                "approval WebSockets open; Retry-After)"
            ),
        },
    )
    def get(self, request: Request, approval_id: str) -> Response:
        relying_party = _relying_party(request)
        if "wait" not in request.query_params:
            return Response(approval_resource(_approval_for_rp_fresh(relying_party, approval_id)))
        wait = _parse_wait(request.query_params.getlist("wait"))
        parsed = parse_approval_id(approval_id)
        if parsed is None:
            raise NotFoundError()
        _release_connection()  # the wait reads on connections of its own; this one goes back to the pool
        with RELYING_PARTY_WAITS.hold(relying_party.pk):  # else 429 too_many_concurrent_requests
            return Response(async_to_sync(_long_poll)(relying_party, parsed, wait))


def _release_connection() -> None:
    # Give the connection back (to the pool) while we wait; never inside a test's transaction.
    if not connection.in_atomic_block:
        connection.close()


def _read_for_poll(relying_party: RelyingParty, approval_id: uuid.UUID) -> tuple[dict[str, Any], float]:
    """The resource and the seconds until it expires, read with lazy expiry."""
    try:
        approval = _approval_for_rp_fresh(relying_party, approval_id)
        return approval_resource(approval), (approval.expires_at - timezone.now()).total_seconds()
    finally:
        _release_connection()


def _parse_wait(values: list[str]) -> int:
    maximum = app_settings.LONG_POLL_MAX_WAIT
    if len(values) != 1 or not _WAIT_RE.fullmatch(values[0]) or not 1 <= int(values[0]) <= maximum:
        raise ValidationError({"wait": [f"An integer from 1 to {maximum}."]})
    return int(values[0])


async def _long_poll(relying_party: RelyingParty, approval_id: uuid.UUID, wait: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    layer = get_channel_layer()
    group = approval_group(approval_id)
    channel: str | None = None
    if layer is not None:
        try:  # subscribe before the first read, so that no change slips between the two
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
        except Exception:  # channel layer down: re-reading alone still answers
            logger.warning("long poll: channel layer unavailable; polling the database", exc_info=True)
            channel = None
    try:
        while True:
            resource, until_expiry = await sync_to_async(_read_for_poll, thread_sensitive=False)(relying_party, approval_id)
            remaining = deadline - loop.time()
            if resource["status"] != ApprovalRequest.Status.PENDING or remaining <= 0:
                return resource
            timeout = max(0.01, min(remaining, app_settings.LONG_POLL_RECHECK_INTERVAL, until_expiry + 0.01))
            if channel is None or layer is None:
                await asyncio.sleep(timeout)
                continue
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout)
            except TimeoutError:
                continue
            except Exception:
                logger.warning("long poll: channel layer receive failed; polling the database", exc_info=True)
                channel = None
                continue
            final = final_resource(message)  # it rides on approval.changed: no read needed
            if final is not None:
                return final
    finally:
        if channel is not None and layer is not None:
            try:
                await layer.group_discard(group, channel)
            except Exception:
                logger.warning("long poll: group_discard failed", exc_info=True)


class ApprovalCancelApi(APIView):
    authentication_classes = [RelyingPartyAuthentication]

    @extend_schema(
        operation_id="approvals_cancel",
        parameters=[_APPROVAL_ID],
        summary="Cancel a pending approval request",
        request=None,
        responses={
            200: ApprovalResourceSerializer,
            401: _problem("invalid_api_key"),
            404: _problem("not_found"),
            409: _problem("approval_not_pending (with approval_status)"),
        },
    )
    def post(self, request: Request, approval_id: str) -> Response:
        approval = approval_request_cancel(relying_party=_relying_party(request), approval_id=approval_id)
        return Response(approval_resource(approval))


class DeviceApprovalListApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="device_approvals_list",
        summary="The citizen's pending, unexpired approval requests, newest first",
        responses={200: DeviceApprovalListSerializer, 401: _problem("invalid_device_token")},
    )
    def get(self, request: Request) -> Response:
        device = _device(request)
        if approval_has_overdue_pending(citizen_id=device.citizen_id):
            approvals_expire_overdue(citizen_id=device.citizen_id, actor="system:lazy-expiry")
        return Response(DeviceApprovalListSerializer.render(approval_requests_pending_for_device(device=device)))


class DeviceApprovalDecisionApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]

    @extend_schema(
        operation_id="device_approvals_decide",
        parameters=[_APPROVAL_ID],
        summary="Approve or deny with a signed decision",
        description="Checks in order: device token (401 invalid_device_token); citizen locked (423 user_locked); "
        "signature and kid (401 invalid_signature); request of this citizen (404); expiry (410 approval_expired) or "
        "status (409 approval_not_pending); signed fields (422 payload_mismatch, request failed); verification code "
        "(422 verification_code_mismatch, request failed); iat within 300 s (422 stale_decision).",
        request=DecisionRequestSerializer,
        responses={
            200: DecisionResponseSerializer,
            400: _problem("validation_error"),
            401: _problem("invalid_device_token, invalid_signature"),
            404: _problem("not_found"),
            409: _problem("approval_not_pending (with approval_status)"),
            410: _problem("approval_expired (with approval_status)"),
            422: _problem("payload_mismatch, verification_code_mismatch, stale_decision"),
            423: _problem("user_locked"),
        },
    )
    def post(self, request: Request, approval_id: str) -> Response:
        serializer = DecisionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = approval_request_decide(
            device=_device(request), approval_id=approval_id, signed_decision=serializer.validated_data["signed_decision"]
        )
        return Response(DecisionResponseSerializer.render(approval))
