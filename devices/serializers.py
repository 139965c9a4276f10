"""Request and response shapes of the device endpoints (docs/contract §4). Shape only: the rules are in services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from devices.models import Device


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans and objects instead of turning them into strings."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DevicePublicJwkSerializer(serializers.Serializer):
    kty = serializers.ChoiceField(choices=["EC", "OKP"], help_text="EC (P-256, ES256) or OKP (Ed25519, EdDSA).")
    crv = serializers.ChoiceField(choices=["P-256", "Ed25519"])
    x = serializers.CharField(help_text="base64url, 32 bytes.")
    y = serializers.CharField(required=False, help_text="base64url, 32 bytes (EC only).")


class DevicePushSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Device.PushProvider.choices)
    token = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="FCM registration token, APNs device token, or for webpush the browser's PushSubscription as a JSON string. None for provider none.",
    )


@extend_schema_field(DevicePublicJwkSerializer)
class PublicJwkField(serializers.JSONField):
    """Any JSON passes here; devices.crypto.load_public_jwk decides (400 invalid_public_key)."""


@extend_schema_field(DevicePushSerializer)
class PushField(serializers.JSONField):
    """Any JSON passes here; devices.services.push_settings_clean decides (400 validation_error)."""


class DeviceRegistrationInputSerializer(serializers.Serializer):
    activation_code = StrictCharField(max_length=64, help_text="XXXX-XXXX-XXXX-XXXX; case, dashes and spaces do not matter.")
    public_key = PublicJwkField(help_text="The new device's public JWK; no private member d.")
    name = StrictCharField(max_length=100)
    platform = serializers.ChoiceField(
        choices=Device.Platform.choices,
        # DRF's default message quotes the input back, a megabyte of it if that is what was sent.
        error_messages={"invalid_choice": f"One of: {', '.join(Device.Platform.values)}."},
    )
    push = PushField(required=False, allow_null=True)
    proof = StrictCharField(
        max_length=16384,
        trim_whitespace=False,
        help_text='Compact JWS by the new key: header {"alg": "ES256"|"EdDSA", "typ": "device-registration+jwt"}, '
        'payload {"activation_code": "<same code>", "iat": <now>}.',
    )


class DeviceUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    push = PushField(required=False)


class DeviceRegisteredSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    user_id = serializers.CharField(source="citizen.user_id")
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()


class DeviceSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    user_id = serializers.CharField(source="citizen.user_id")
    name = serializers.CharField()
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class PasswordInputSerializer(serializers.Serializer):
    password = StrictCharField(
        max_length=1024,
        trim_whitespace=False,
        allow_blank=True,
        help_text="The new password: at least 8 characters after NFKC normalisation, at most 256; no composition rules; "
        "not a common or breached password, nor built from the user ID, birth date, name or NemID/MitID (docs/contract §9).",
    )
    current_password = StrictCharField(
        max_length=1024,
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        allow_null=True,
        help_text="Required once the citizen has a password.",
    )


class CitizenDeviceSerializer(serializers.Serializer):
    device_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    status = serializers.ChoiceField(choices=Device.Status.choices)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField(help_text="True for the device that asks.")

    def get_current(self, device: Device) -> bool:
        return str(device.id) == str(self.context.get("current_device_id"))


class CitizenDeviceListSerializer(serializers.Serializer):
    devices = CitizenDeviceSerializer(many=True)


# RFC 9457 problem details, as every error of this API is rendered. Built with inline_serializer
# because a declared field named `errors` would shadow Serializer.errors.
DeviceProblemSerializer = inline_serializer(
    name="DeviceProblem",
    fields={
        "type": serializers.CharField(default="about:blank"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(help_text="Stable machine-readable error code (docs/contract/)."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Per field, for validation_error.",
        ),
    },
)
