"""Input validation of the approval endpoints, and the small decision answer. The approval
resource and the device view, which the sockets and webhooks send too, are in `approvals.shapes`.

The input fields are strict about JSON types: DRF's own fields would turn 123 into "123",
"true" into True and 30.0 into 30; a payment API should not guess.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from approvals.app_settings import app_settings
from approvals.models import ApprovalRequest
from approvals.money import MoneyInvalid, currency_exponent, validate_amount
from approvals.services import BINDING_MESSAGE_MAX, PAYEE_MAX
from nemid_app_backend.exceptions import ApplicationError
from relying_parties.services import validate_callback_url

SIGNED_DECISION_MAX = 16384


class StrictCharField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def printable_text(value: str, *, max_length: int) -> str:
    if len(value) > max_length:
        raise serializers.ValidationError(f"At most {max_length} characters.")
    if not value.isprintable():
        raise serializers.ValidationError("Only printable characters; no control or formatting characters.")
    return value


class PaymentSerializer(serializers.Serializer):
    amount = StrictCharField(max_length=64, help_text="Decimal string with exactly the currency's minor-unit digits.")
    currency = StrictCharField(max_length=3, min_length=3, help_text="ISO 4217 alphabetic code with a minor unit.")
    payee = StrictCharField(max_length=PAYEE_MAX, help_text="At most 70 printable characters.")

    def validate_payee(self, value: str) -> str:
        return printable_text(value, max_length=PAYEE_MAX)

    def to_internal_value(self, data: Any) -> Any:
        # Unknown members are refused, not dropped: the citizen must sign exactly what the RP sent.
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            exponent = currency_exponent(attrs["currency"])
        except MoneyInvalid as exc:
            raise serializers.ValidationError({"currency": [str(exc)]}) from exc
        try:
            validate_amount(attrs["amount"], exponent)
        except MoneyInvalid as exc:
            raise serializers.ValidationError({"amount": [str(exc)]}) from exc
        return attrs


class ApprovalCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ApprovalRequest.Type.choices)
    login_hint = StrictCharField(max_length=64, help_text="The citizen's 10-digit user ID.")
    binding_message = StrictCharField(
        required=False, allow_blank=True, default="", help_text="At most 100 printable characters; shown on the device."
    )
    payment = PaymentSerializer(required=False, allow_null=True, help_text="Required for payment, forbidden for login.")
    expires_in = StrictIntegerField(
        required=False,
        min_value=app_settings.MIN_EXPIRES_IN,
        max_value=app_settings.MAX_EXPIRES_IN,
        help_text="Seconds, 30-600; default 120 for login, 300 for payment.",
    )
    number_matching = StrictBooleanField(required=False, help_text="Default true for login, false for payment.")
    callback_url = StrictCharField(
        required=False, max_length=2000, help_text="https (plain http only to hosts in NEMID_WEBHOOK_HTTP_HOSTS)."
    )

    def validate_binding_message(self, value: str) -> str:
        return printable_text(value, max_length=BINDING_MESSAGE_MAX)

    def validate_callback_url(self, value: str) -> str:
        try:
            return validate_callback_url(value)
        except ApplicationError as exc:
            errors = exc.extra.get("errors", {}).get("callback_url") or [exc.detail]
            raise serializers.ValidationError(errors) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        payment = attrs.get("payment")
        if attrs["type"] == ApprovalRequest.Type.PAYMENT and payment is None:
            raise serializers.ValidationError({"payment": ["Required for payment requests."]})
        if attrs["type"] == ApprovalRequest.Type.LOGIN and payment is not None:
            raise serializers.ValidationError({"payment": ["Forbidden for login requests."]})
        return attrs


class DecisionRequestSerializer(serializers.Serializer):
    signed_decision = StrictCharField(
        max_length=SIGNED_DECISION_MAX, help_text="Compact JWS, typ approval-decision+jwt, kid = this device's id."
    )
