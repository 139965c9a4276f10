"""Helpers for the approval tests: an RP creating requests, phones listing and deciding them."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import DeviceFactory

LIST_PATH = "/api/v1/device/approvals"


def decision_path(approval_id: str) -> str:
    return f"/api/v1/device/approvals/{approval_id}/decision"


def login_body(citizen: Any, **overrides: Any) -> dict[str, Any]:
    return {"type": "login", "login_hint": citizen.user_id, "binding_message": "Log in to Webshop ApS", **overrides}


def payment_body(citizen: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "payment",
        "login_hint": citizen.user_id,
        "binding_message": "Order 10023 at Webshop ApS",
        "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
    }
    body.update(overrides)
    return body


def create(rp_api: APIClient, body: dict[str, Any], **headers: Any) -> Any:
    return rp_api.post("/api/v1/approvals", body, format="json", **headers)


def device_views(device: Any, client: APIClient | None = None) -> list[dict[str, Any]]:
    client = client or APIClient()
    response = client.get(LIST_PATH, **device.phone.auth("GET", LIST_PATH))
    assert response.status_code == 200, response.content
    return response.json()["approvals"]


def device_view_of(device: Any, approval_id: str) -> dict[str, Any]:
    return next(view for view in device_views(device) if view["id"] == approval_id)


def post_decision(device: Any, approval_id: str, signed_decision: Any, client: APIClient | None = None) -> Any:
    client = client or APIClient()
    path = decision_path(approval_id)
    return client.post(path, {"signed_decision": signed_decision}, format="json", **device.phone.auth("POST", path))


def decide(device: Any, approval: dict[str, Any], decision: str = "approve", **overrides: Any) -> Any:
    """Sign over what the phone shows and post it, entering the RP's code when it is asked for."""
    view = device_view_of(device, approval["id"])
    overrides.setdefault("verification_code", approval.get("verification_code"))
    signed = device.phone.sign_decision(view, decision, **overrides)
    return post_decision(device, approval["id"], signed)


@pytest.fixture
def second_device(citizen):  # type: ignore[no-untyped-def]
    return DeviceFactory(citizen=citizen)
