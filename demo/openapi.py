"""With the demo on, the OpenAPI examples in /api/docs/ are requests that work as they stand: the
login_hint of the approval examples is the demo citizen's user ID, and the path parameters of the
read endpoints name the demo relying party's latest approval and 3-D Secure authentication.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]); with the demo
off, or without a database to read, it changes nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError

from approvals.models import ApprovalRequest
from citizens.selectors import citizen_find_by_cpr
from demo.services import DEMO_CPR, demo_relying_party_find
from threeds.models import ThreeDSAuthentication


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    ]


def _set_path_example(operation: dict[str, Any], name: str, value: str) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter.get("name") == name:
            parameter["example"] = value


def fill_examples_with_demo_data(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    if not settings.NEMID_DEMO:
        return result
    try:
        citizen = citizen_find_by_cpr(cpr=DEMO_CPR)
        rp = demo_relying_party_find()
        latest_approval = ApprovalRequest.objects.filter(relying_party=rp).order_by("-created_at").first() if rp else None
        latest_3ds = ThreeDSAuthentication.objects.filter(relying_party=rp).order_by("-created_at").first() if rp else None
    except DatabaseError:  # no database yet (a schema generated at build time)
        return result
    for path, method, operation in _operations(result):
        if citizen is not None and (path, method) == ("/api/v1/approvals", "post"):
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for example in media.get("examples", {}).values():
                    if isinstance(example.get("value"), dict) and "login_hint" in example["value"]:
                        # A new dict: the value is the view's own example object, shared by every schema.
                        example["value"] = {**example["value"], "login_hint": citizen.user_id}
        if latest_approval is not None and path.startswith("/api/v1/approvals/{approval_id}"):
            _set_path_example(operation, "approval_id", str(latest_approval.id))
        if latest_3ds is not None and path == "/api/v1/3ds/authentications/{acs_trans_id}":
            _set_path_example(operation, "acs_trans_id", str(latest_3ds.acs_trans_id))
    return result
