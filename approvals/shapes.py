"""What the approval endpoints, sockets and webhooks send (docs/contract §5, §6), declared once:
each serializer documents its shape in the OpenAPI schema and renders it (nemid_app_backend.shapes)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from approvals.models import ApprovalRequest
from nemid_app_backend.shapes import BlankAsNullCharField, OutputSerializer


class ApprovalResultSerializer(OutputSerializer):
    present_when = "result_token"

    token = serializers.CharField(
        source="result_token", help_text="ES256 JWT signed by the server (kid in /.well-known/jwks.json)."
    )


class ApprovalPaymentOutSerializer(OutputSerializer):
    amount = serializers.CharField()
    currency = serializers.CharField()
    payee = serializers.CharField()


class ApprovalResourceSerializer(OutputSerializer):
    """docs/contract §5 approval resource."""

    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=ApprovalRequest.Type.choices)
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices)
    login_hint = serializers.CharField(source="citizen.user_id")
    binding_message = serializers.CharField()
    payment = ApprovalPaymentOutSerializer(allow_null=True)
    verification_code = BlankAsNullCharField(help_text="2 digits when number matching is on; show it to the person.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True, help_text="When a device approved or denied; else null.")
    result = ApprovalResultSerializer(source="*", allow_null=True, help_text="Set when the status is approved or denied.")


class DeviceApprovalViewSerializer(OutputSerializer):
    """docs/contract §6 device view."""

    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=ApprovalRequest.Type.choices)
    rp_name = serializers.CharField(source="relying_party.name")
    binding_message = serializers.CharField()
    payment = ApprovalPaymentOutSerializer(allow_null=True)
    nonce = serializers.CharField(help_text="base64url, 32 random bytes.")
    verification_code_required = serializers.BooleanField(source="number_matching")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class DeviceApprovalListSerializer(OutputSerializer):
    approvals = DeviceApprovalViewSerializer(many=True, source="*")


class DecisionResponseSerializer(OutputSerializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices)


def approval_resource(approval: ApprovalRequest) -> dict[str, Any]:
    resource = ApprovalResourceSerializer.render(approval)
    assert resource is not None
    return resource


def device_view(approval: ApprovalRequest) -> dict[str, Any]:
    view = DeviceApprovalViewSerializer.render(approval)
    assert view is not None
    return view
